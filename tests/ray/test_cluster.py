"""A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head and a second
node, each with its own raylet and a distinct custom resource): the city fan-out runs on both
nodes, and a training job submitted through the head's job API (``python -m jobs.train``, the
entry point of ``ray job submit``) trains per-city models on the cluster and saves them.

The Ray Train paths (TorchTrainer, XGBoostTrainer) are tested on the local instance
(test_torch_train.py, test_xgb_train.py); here a job stays cheap: one fan-out of two cities."""

from __future__ import annotations

import json
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from train_helpers import CUT, TEST, TINY_XGB, rows, synthetic_data

from energy.distributed import RaySettings
from energy.distributed.fanout import train_cities
from energy.models.base import Forecaster
from energy.models.spec import ModelSpec

pytestmark = [pytest.mark.ray, pytest.mark.timeout(400)]
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def two_nodes():
    import ray
    from ray.cluster_utils import Cluster

    port = _free_port()  # never the default 8265: other Ray users on the machine
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1, "resources": {"head_node": 1}, "include_dashboard": True,
            "dashboard_host": "127.0.0.1", "dashboard_port": port,
            "object_store_memory": 150 * 1024**2,
        },
    )  # fmt: skip
    try:
        worker = cluster.add_node(num_cpus=1, resources={"second_node": 1})
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster, worker, port
    finally:
        ray.shutdown()
        cluster.shutdown()


def submit(client, entrypoint: str, runtime_env: dict, within_s: float = 120) -> str:
    """Submit under a fixed id. On a loaded machine the head may answer 'No available agent'
    (its 10 s wait for the job agent ran out) although the job was accepted: then look the id
    up before trying again, so that a retry never starts a second job."""
    job = f"energy-test-{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + within_s
    while True:
        try:
            return client.submit_job(
                entrypoint=entrypoint, runtime_env=runtime_env, submission_id=job
            )
        except RuntimeError as e:
            if "already exists" in str(e):
                return job
            if "No available agent" not in str(e) or time.monotonic() > deadline:
                raise
        try:
            client.get_job_status(job)
            return job  # accepted after all
        except RuntimeError:
            time.sleep(2)


def test_fanout_runs_on_both_nodes(two_nodes):
    import ray

    cluster, worker, _ = two_nodes
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


def test_submitted_training_job_succeeds_and_saves_its_model(two_nodes, tmp_path):
    from ray.job_submission import JobStatus, JobSubmissionClient

    from energy.data.ingest import synth_dataset

    _, _, port = two_nodes
    data = tmp_path / "data"
    synth_dataset(data, n_cities=2, days=50, seed=3)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {"horizon": 24, "scope": "per_city", "features": {"horizon": 24, "lags": [24, 48, 168]},
             "models": {"xgboost": {**{k: v for k, v in TINY_XGB.items() if k != "features"},
                                    "strategy": "shared"}},
             "ensemble": {"method": "mean", "val_days": 7}, "baselines": []}
        )
    )  # fmt: skip
    out = tmp_path / "run"
    runtime_env = yaml.safe_load((REPO / "cluster" / "runtime_env.yaml").read_text())
    runtime_env["working_dir"] = str(REPO)  # what `ray job submit --working-dir .` uploads
    client = JobSubmissionClient(f"http://127.0.0.1:{port}")
    entrypoint = (
        f"{sys.executable} -m jobs.train --config {cfg} --data {data} --out {out} "
        f"--model xgboost --ray cpus_per_task=0.5 --no-register --no-track"
    )
    job = submit(client, entrypoint, runtime_env)
    deadline = time.monotonic() + 300
    while not (status := client.get_job_status(job)).is_terminal():
        assert time.monotonic() < deadline, client.get_job_logs(job)[-3000:]
        time.sleep(1)
    logs = client.get_job_logs(job)
    assert status == JobStatus.SUCCEEDED, logs[-3000:]
    assert "Ray backend on Ray at" in logs  # joined the job's cluster, did not start its own
    assert "cities 2/2 done, 0 failed" in logs  # the per-city fan-out ran as cluster tasks
    model = Forecaster.load(out / "model")
    assert model.kind == "per_city" and sorted(model.models_) == ["syn-000", "syn-001"]
    assert model.models_["syn-000"].kind == "xgboost"
    assert json.loads((out / "train.json").read_text())["cities"] == ["syn-000", "syn-001"]
