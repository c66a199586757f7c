"""``energy submit``'s plan, without a cluster: a deterministic submission id (same command, env
and code → same id; any change → a new one), the project's runtime env, the equivalent
``ray job submit`` line, and one-line errors. Submitting for real: tests/ray/test_cluster.py."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from energy.cli.main import main
from energy.distributed.submit import SubmitError, plan

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A minimal checkout: jobs/train.py and the project's runtime env."""
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "train.py").write_text("print('train')\n")
    (tmp_path / "cluster").mkdir()
    shutil.copy(REPO / "cluster" / "runtime_env.yaml", tmp_path / "cluster")
    return tmp_path


def test_the_submission_id_follows_command_env_and_code(repo):
    args = ["--config", "cpu", "--out", "/shared/runs/a"]
    first = plan("train", args, working_dir=repo).submission_id
    assert first.startswith("energy-train-") and len(first) == len("energy-train-") + 12
    assert plan("train", args, working_dir=repo).submission_id == first
    assert plan("train", [*args[:-1], "/shared/runs/b"], working_dir=repo).submission_id != first
    env = {"MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    assert plan("train", args, working_dir=repo, env=env).submission_id != first
    (repo / "jobs" / "train.py").write_text("print('new code')\n")
    assert plan("train", args, working_dir=repo).submission_id != first
    assert plan("train", args, working_dir=repo, submission_id="mine").submission_id == "mine"


def test_the_runtime_env_is_the_projects_with_the_working_dir(repo):
    sub = plan("train", ["--out", "/o"], working_dir=repo, env={"ENERGY_HOME": "/mnt/e"})
    renv = sub.runtime_env()
    declared = yaml.safe_load((REPO / "cluster" / "runtime_env.yaml").read_text())
    assert renv["working_dir"] == str(repo.resolve())
    assert renv["excludes"] == declared["excludes"]
    assert renv["env_vars"] == {**declared["env_vars"], "ENERGY_HOME": "/mnt/e"}
    assert sub.entrypoint == "python -m jobs.train --out /o"


def test_the_equivalent_ray_job_submit_line(repo):
    sub = plan("train", ["--data", "/d x"], working_dir=repo, address="http://head:8265")
    line = sub.ray_command()
    assert line == (
        f"ray job submit --address http://head:8265 --submission-id {sub.submission_id} "
        "--working-dir . --runtime-env cluster/runtime_env.yaml -- "
        "python -m jobs.train --data '/d x'"
    )
    with_env = plan("train", [], working_dir=repo, env={"A": "1"}).ray_command()
    parts = shlex.split(with_env)
    assert (
        "--runtime-env" not in parts and '"A": "1"' in parts[parts.index("--runtime-env-json") + 1]
    )


@pytest.mark.parametrize(
    ("kind", "message"),
    [("deploy", "job: expected one of train, backtest"), ("backtest", "--working-dir: ")],
)
def test_bad_jobs_are_one_line_errors(repo, kind, message):
    with pytest.raises(SubmitError, match=message):
        plan(kind, [], working_dir=repo)


def test_the_cli_names_a_missing_runtime_env(repo, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["submit", "train", "--working-dir", str(repo), "--runtime-env", "nope.yaml"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --runtime-env: 'nope.yaml' does not exist"
    )
