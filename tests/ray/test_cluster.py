"""A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head and a second
node, each with its own raylet and a distinct custom resource): the city fan-out runs on both
nodes, and training jobs go through the head's job API as ``energy submit`` sends them, each
with a fresh copy of the repository as working dir (a new package every time) and tracking on.

The nodes share one temporary folder, as two ``ray start`` on one machine do, so the first
worker of a new package on the second node replaces the package folder the job's driver was
started in (Ray 2.60 ``WorkingDirPlugin.create`` unpacks with ``overwrite=True``; see
:mod:`energy.home`). The tests check that this happened and that the jobs did not care: state
goes to the MLflow server, or the job stops with one line before any work.

The cluster runs with ``HOME`` in a temporary folder (the default ``ENERGY_HOME`` is
``~/.energy``) and without the session's ``MLFLOW_TRACKING_URI``: a job gets only what its
runtime env gives it. The Ray Train paths are tested on the local instance
(test_torch_train.py, test_xgb_train.py); here a job stays cheap: XGBoost, two synthetic cities.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from train_helpers import CUT, TEST, TINY_XGB, rows, synthetic_data

from energy.distributed import RaySettings
from energy.distributed.fanout import train_cities
from energy.distributed.submit import Submission, plan, submit
from energy.models.spec import ModelSpec

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "data", "runs", "mlruns", "mlserver", "results", "__pycache__", "*.egg-info",
    ".mypy_cache", ".ruff_cache", ".pytest_cache",
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory):
    import ray
    from ray.cluster_utils import Cluster

    port = _free_port()  # never the default 8265: other Ray users on the machine
    user_home = tmp_path_factory.mktemp("home")
    # An earlier ray.init in this process leaves RAY_AUTH_MODE=token in the environment (and the
    # driver holds the token of the real ~/.ray/auth_token): the nodes, started with HOME in a
    # temporary folder, must read that same token, or their GCS refuses to start.
    auth = pytest.MonkeyPatch()
    real_token = Path.home() / ".ray" / "auth_token"
    if os.environ.get("RAY_AUTH_MODE") == "token" and real_token.is_file():
        auth.setenv("RAY_AUTH_TOKEN_PATH", str(real_token))
    with pytest.MonkeyPatch.context() as mp:  # what the nodes' processes (and jobs) inherit
        mp.setenv("HOME", str(user_home))
        for var in ("MLFLOW_TRACKING_URI", "ENERGY_HOME", "ENERGY_TRACKING"):
            mp.delenv(var, raising=False)
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": 1, "resources": {"head_node": 1}, "include_dashboard": True,
                "dashboard_host": "127.0.0.1", "dashboard_port": port,
                "object_store_memory": 150 * 1024**2,
                "dashboard_agent_listen_port": _free_port(),  # the default 52365 may be taken
            },
        )  # fmt: skip
    try:
        worker = cluster.add_node(
            num_cpus=1, resources={"second_node": 1}, dashboard_agent_listen_port=_free_port()
        )
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster, worker, port, user_home
    finally:
        ray.shutdown()
        cluster.shutdown()
        auth.undo()


def test_fanout_runs_on_both_nodes(two_nodes):
    import ray

    cluster, worker, _, _ = two_nodes
    nodes = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
    assert len(nodes) == 2
    ds = synthetic_data(n_cities=4, seed=2)
    spec = ModelSpec.model_validate(
        {"kind": "xgboost", "config": {**TINY_XGB, "strategy": "shared"}}
    )
    result = train_cities(
        spec, rows(ds, end=CUT), rows(ds, CUT, TEST), RaySettings(cities_per_task=1)
    )
    assert not result.failures and sorted(result.models) == ds.city_ids
    ran_on = {r.node_id for r in result.results}
    assert ran_on == {cluster.head_node.node_id, worker.node_id}
    # the nodes told apart by their custom resources
    assert {"head_node" in nodes[n] for n in ran_on} == {True, False}
    assert {"second_node" in nodes[n] for n in ran_on} == {True, False}


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 in its own process group (SIGTERM to stop it)."""
    root = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:  # readiness poll of a server we started, not test ordering
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (root / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server not healthy after 300 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def job_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Two synthetic cities (50 days) and a tiny XGBoost config registering under a new name."""
    from energy.data.ingest import synth_dataset

    root = tmp_path_factory.mktemp("inputs")
    synth_dataset(root / "data", n_cities=2, days=50, seed=3)
    name = f"cluster-test-{uuid.uuid4().hex[:8]}"
    xgb = {k: v for k, v in TINY_XGB.items() if k != "features"} | {"strategy": "shared"}
    cfg = {
        "horizon": 24, "scope": "per_city", "features": {"horizon": 24, "lags": [24, 48, 168]},
        "models": {"xgboost": xgb}, "ensemble": {"method": "mean", "val_days": 7},
        "baselines": [], "promotion": {"registered_model": name, "windows_days": 7},
    }  # fmt: skip
    (root / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    return root / "data", root / "tiny.yaml", name


def fresh_copy(dst: Path) -> Path:
    """The repository as a user's checkout would upload it, with content no package had yet."""
    shutil.copytree(REPO, dst, ignore=COPY_IGNORE, symlinks=True)
    (dst / "nonce.txt").write_text(uuid.uuid4().hex)
    return dst


def run_job(sub: Submission, port: int, within_s: float = 420) -> tuple[str, str]:
    """Submit and wait: (final status, logs)."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(f"http://127.0.0.1:{port}")
    job = submit(sub, within_s=300)  # a loaded machine: the head's job agent starts late
    deadline = time.monotonic() + within_s
    while not (status := client.get_job_status(job)).is_terminal():
        assert time.monotonic() < deadline, client.get_job_logs(job)[-3000:]
        time.sleep(1)
    return str(status.value), client.get_job_logs(job)


def package_replaced(cluster, logs: str) -> bool:
    """Whether a node's runtime-env agent deleted and re-unpacked this job's package folder."""
    pkg = re.search(r"started in (\S+/working_dir_files/_ray_pkg_[0-9a-f]+)", logs)
    assert pkg is not None, logs[-3000:]
    found = Path(cluster.head_node.get_session_dir_path(), "logs").glob("runtime_env*.log")
    return any(f"Removing {pkg[1]} " in p.read_text(errors="replace") for p in found)


def state_in_ray_temp(cluster) -> list[Path]:
    """Anything tracking- or output-like written inside Ray's unpacked packages."""
    pkgs = Path(cluster.head_node.get_session_dir_path(), "runtime_resources")
    return [p for pat in ("mlruns", "*.db", "train.json", "package.json") for p in pkgs.rglob(pat)]


@pytest.mark.cluster  # two training jobs + a real MLflow server: minutes; make test-all
def test_two_jobs_against_a_tracking_server_share_one_registry(
    two_nodes, mlflow_server, job_inputs, tmp_path, monkeypatch
):
    """Each job a new package, replaced under its driver by the second node: both succeed, the
    second is compared with the first's champion, and the champion loads after both ended."""
    from energy import tracking
    from energy.forecast.package import read_package

    cluster, _, port, user_home = two_nodes
    data, cfg, name = job_inputs
    for run in ("run1", "run2"):
        args = ["--config", str(cfg), "--data", str(data), "--model", "xgboost",
                "--out", str(tmp_path / run), "--ray", "cpus_per_task=1", "--ray",
                "cities_per_task=1"]  # fmt: skip  # one task per node
        sub = plan(
            "train", args, working_dir=fresh_copy(tmp_path / f"repo-{run}"), python=sys.executable,
            address=f"http://127.0.0.1:{port}", env={"MLFLOW_TRACKING_URI": mlflow_server},
        )  # fmt: skip
        status, logs = run_job(sub, port)
        assert status == "SUCCEEDED", logs[-3000:]
        assert "Errno 2" not in logs and "Traceback" not in logs, logs[-3000:]
        assert "Ray backend on Ray at" in logs and "cities 2/2 done, 0 failed" in logs
        assert f"working folder {user_home / '.energy' / 'jobs' / sub.submission_id}" in logs
        assert package_replaced(cluster, logs), "the second node did not replace the package"
    assert "first version: there is no champion yet" not in logs  # the second job compared
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    assert tracking.get_version(name, "2").tags["gate.champion"] == "1"
    champion = tracking.resolve_alias(name, dst=tmp_path / "download")  # both jobs have ended
    pkg = read_package(champion.package_dir)
    assert len(pkg.forecast(pkg.cities, horizon=24)) == 2 * 24
    assert not state_in_ray_temp(cluster)
    assert not (user_home / ".energy" / "mlflow").exists()  # the server holds the registry


def test_a_job_with_nowhere_durable_fails_fast_with_one_line(two_nodes, job_inputs, tmp_path):
    """Nothing set (no tracking server, no ENERGY_HOME): one line, before any work."""
    cluster, _, port, user_home = two_nodes
    data, cfg, _ = job_inputs
    args = ["--config", str(cfg), "--data", str(data), "--model", "xgboost",
            "--out", str(tmp_path / "run")]  # fmt: skip
    sub = plan(
        "train", args, working_dir=fresh_copy(tmp_path / "repo"), python=sys.executable,
        address=f"http://127.0.0.1:{port}",
    )  # fmt: skip
    status, logs = run_job(sub, port, within_s=180)
    assert status == "FAILED"
    errors = [line for line in logs.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and errors[0].startswith(
        "error: inside a Ray job with no tracking server: set MLFLOW_TRACKING_URI"
    ), logs[-3000:]
    assert "Errno 2" not in logs and "Traceback" not in logs, logs[-3000:]
    assert not (tmp_path / "run").exists() and not state_in_ray_temp(cluster)
    assert not (user_home / ".energy" / "jobs" / sub.submission_id).exists()
