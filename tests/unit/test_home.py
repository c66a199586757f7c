"""Durable state (energy.home): one home resolved once, and a job driver that leaves Ray's
package folder before any work or fails with one line. Ray's job supervisor is stood in for by
the one variable it sets for a job's driver; the real thing runs in tests/ray/test_cluster.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from energy import home
from energy.tracking import store

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test resolves ENERGY_HOME anew, with ``~`` in its sandbox and no tracking URI; the
    current folder is restored after it."""
    cwd = os.getcwd()
    for var in (home.ENV, home.RAY_JOB_ENV, home.PREPARED, "ENERGY_TRACKING", "ENERGY_DEBUG"):
        monkeypatch.setenv(var, "")  # recorded, so that what the code sets is undone afterwards
        monkeypatch.delenv(var)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # set for the session by tests/conftest.py
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    home.reset()
    yield
    os.chdir(cwd)
    home.reset()


def _as_job(monkeypatch: pytest.MonkeyPatch, package: Path, sid: str = "raysubmit_x1") -> None:
    """What Ray's job supervisor does for a driver: the config variable, the package as cwd."""
    meta = {"runtime_env": {}, "metadata": {"job_submission_id": sid, "job_name": sid}}
    monkeypatch.setenv(home.RAY_JOB_ENV, json.dumps(meta))
    package.mkdir(parents=True, exist_ok=True)
    os.chdir(package)


def test_home_is_resolved_once_to_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(home.ENV, "state")
    first = home.home()
    assert first == tmp_path / "state"
    os.chdir("/")
    monkeypatch.setenv(home.ENV, "elsewhere")
    assert home.home() == first  # resolved once: a later cwd or variable changes nothing
    home.reset()
    monkeypatch.delenv(home.ENV)
    assert home.home() == tmp_path / "user" / ".energy"


def test_default_tracking_uri_lives_under_home_never_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(home.ENV, str(tmp_path / "h"))
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()  # what Ray does to a job driver's folder: getcwd() now raises
    with pytest.raises(FileNotFoundError):
        os.getcwd()
    assert store.tracking_uri() == f"sqlite:///{tmp_path / 'h' / 'mlflow' / 'mlflow.db'}"


def test_outside_a_job_nothing_changes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--config", "cpu", "--out", "runs/x"]
    assert home.prepare_job_driver(args) == args
    assert os.getcwd() == str(tmp_path)


def test_a_job_moves_into_a_durable_folder_and_makes_inputs_absolute(tmp_path, monkeypatch):
    pkg = tmp_path / "ray" / "runtime_resources" / "working_dir_files" / "_ray_pkg_1"
    _as_job(monkeypatch, pkg, sid="energy-train-abc")
    (pkg / "configs").mkdir()
    (pkg / "configs" / "tiny.yaml").write_text("{}")
    monkeypatch.setenv(home.ENV, str(tmp_path / "shared"))
    args = home.prepare_job_driver(
        [
            "--config=configs/tiny.yaml",
            "--data",
            "/abs/data",
            "--out",
            "/abs/out",
            "--config",
            "cpu",
        ]
    )
    assert args == [
        f"--config={pkg / 'configs' / 'tiny.yaml'}", "--data", "/abs/data", "--out", "/abs/out",
        "--config", "cpu",
    ]  # fmt: skip
    assert os.getcwd() == str(tmp_path / "shared" / "jobs" / "energy-train-abc")
    assert os.environ[home.ENV] == str(tmp_path / "shared")


@pytest.mark.parametrize(
    ("env", "argv", "message"),
    [
        (
            {},
            ["--out", "/abs"],
            "inside a Ray job with no tracking server: set MLFLOW_TRACKING_URI",
        ),
        ({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}, ["--out", "runs/x"], "--out: 'runs/x' is "),
        ({"ENERGY_HOME": "/shared/e"}, ["--out=out"], "--out: 'out' is relative"),
        ({"ENERGY_HOME": "/shared/e"}, ["--data", "nowhere"], "--data: 'nowhere' is relative"),
        ({"ENERGY_HOME": "rel"}, [], "ENERGY_HOME: 'rel' is relative"),
        ({"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"}, [], "MLFLOW_TRACKING_URI: 'sqlite:///ml"),
    ],
)
def test_a_job_with_nowhere_durable_fails_with_one_line(
    tmp_path, monkeypatch, capsys, env, argv, message
):
    _as_job(monkeypatch, tmp_path / "_ray_pkg_2")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SystemExit) as exc:
        home.prepare_job_driver(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert os.getcwd() == str(tmp_path / "_ray_pkg_2")  # failed before moving or writing


def test_home_inside_the_package_is_refused(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "_ray_pkg_3"
    _as_job(monkeypatch, pkg)
    monkeypatch.setenv(home.ENV, str(pkg / "state"))
    with pytest.raises(SystemExit):
        home.prepare_job_driver([])
    assert "is inside Ray's temporary package folder" in capsys.readouterr().err


def test_tracking_off_needs_no_home(tmp_path, monkeypatch):
    _as_job(monkeypatch, tmp_path / "_ray_pkg_4", sid="s4")
    home.prepare_job_driver(["--no-track", "--out", "/abs/out"])
    assert os.getcwd() == str(tmp_path / "user" / ".energy" / "jobs" / "s4")


def test_unwritable_home_names_the_path(tmp_path, monkeypatch, capsys):
    _as_job(monkeypatch, tmp_path / "_ray_pkg_5")
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(home.ENV, str(blocker / "home"))
    with pytest.raises(SystemExit):
        home.prepare_job_driver([])
    err = capsys.readouterr().err
    assert err.startswith(f"error: ENERGY_HOME: cannot create '{blocker / 'home' / 'jobs'}")


def test_submission_id_comes_from_the_job_config(monkeypatch):
    assert home.submission_id() is None and not home.in_ray_job()
    monkeypatch.setenv(home.RAY_JOB_ENV, json.dumps({"metadata": {"job_submission_id": "abc"}}))
    assert home.in_ray_job() and home.submission_id() == "abc"


def test_importing_energy_home_has_no_side_effects(tmp_path):
    code = "import energy.home, energy.tracking; print('ok')"
    env = os.environ | {"HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
    assert not (tmp_path / ".energy").exists()


def test_the_driver_runs_again_from_a_copy_that_outlives_the_package(tmp_path):
    """A real process as Ray starts a job's driver: ``python -m jobs.probe`` inside the package,
    which then disappears (another node unpacking it again); later imports come from the copy."""
    pkg = tmp_path / "runtime_resources" / "working_dir_files" / "_ray_pkg_6"
    (pkg / "energy").mkdir(parents=True)
    (pkg / "jobs").mkdir()
    for name in ("__init__.py", "home.py"):
        (pkg / "energy" / name).write_text((REPO / "energy" / name).read_text())
    (pkg / "jobs" / "__init__.py").write_text("")
    (pkg / "jobs" / "later.py").write_text("WHERE = __file__\n")
    (pkg / "jobs" / "probe.py").write_text(
        "import os, shutil, sys\n"
        "from energy.home import prepare_job_driver\n"
        "args = prepare_job_driver()\n"
        f"shutil.rmtree({str(pkg)!r}, ignore_errors=True)\n"
        "from jobs import later\n"
        "print(os.getcwd(), later.WHERE, *args)\n"
    )
    meta = {"metadata": {"job_submission_id": "energy-probe-1"}}
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", home.PREPARED)}
    env |= {home.RAY_JOB_ENV: json.dumps(meta), "PYTHONPATH": str(pkg),
            home.ENV: str(tmp_path / "shared")}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "jobs.probe", "--out", "/abs/out"],
        cwd=pkg, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    here = tmp_path / "shared" / "jobs" / "energy-probe-1"
    cwd, where, *args = out.stdout.split()
    assert (cwd, where) == (str(here), str(here / "working_dir" / "jobs" / "later.py"))
    assert args == ["--out", "/abs/out"]
    assert out.stderr.count("working folder") == 1  # moved once, then ran from the copy
