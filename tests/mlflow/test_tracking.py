"""Experiment tracking on a real store: what train/backtest runs record, nesting from Ray
workers, tracking off, and a clear error when the server is missing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from mlflow_helpers import tiny_config

from energy import tracking
from energy.lifecycle import experiment

pytestmark = pytest.mark.mlflow


def _runs(**where: str):
    c = tracking.client()
    exp = c.get_experiment_by_name(tracking.experiment_name())
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in where.items())
    return c.search_runs([exp.experiment_id], query, max_results=1000)


def test_train_run_records_config_data_metrics_and_model(trained, synth_data):
    c = tracking.client()
    run = c.get_run(trained["run_id"])
    assert run.info.status == "FINISHED"
    p, m, t = run.data.params, run.data.metrics, run.data.tags
    assert p["models.xgboost.n_estimators"] == "5" and p["promotion.windows_days"] == "7"
    assert p["ensemble.method"] == "inverse_error" and p["name"] == "tiny"
    for key in (
        "overall/mape",
        "overall/mae",
        "city/syn-000/mape",
        "city/syn-001/rmse",
        "member/xgboost/mape",
        "member/seasonal_naive/mape",
        "fit_s",
    ):
        assert key in m, sorted(m)
    assert m["overall/mape"] == pytest.approx(trained["metrics"]["mape"])
    assert t["energy.kind"] == "train" and t["model"] == "ensemble"
    assert len(t["mlflow.source.git.commit"]) >= 7
    import mlflow

    assert t["version.mlflow"] == mlflow.__version__ and "version.xgboost" in t
    manifest = json.loads((synth_data / "manifest.json").read_text())
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.digest == manifest["content_hash"][:32]
    assert str(synth_data.resolve()) in inp.dataset.source
    assert t["data.hash"] == manifest["content_hash"]
    arts = {a.path for a in c.list_artifacts(run.info.run_id, "backtest")}
    assert {"backtest/metrics.json", "backtest/mape_by_city.png"} <= arts
    assert c.list_artifacts(run.info.run_id, "data")[0].path == "data/manifest.json"
    info = mlflow.models.get_model_info(trained["model_uri"])
    assert info.run_id == run.info.run_id and info.signature is not None


def test_backtest_run_is_tracked(synth_data, tmp_path):
    cfg = tiny_config(name="bt-tracked")
    experiment.backtest(
        cfg,
        synth_data,
        tmp_path,
        start="2020-02-25",
        end="2020-02-28",
        kind="seasonal_naive",
        with_baselines=False,
    )
    (run,) = [r for r in _runs(**{"energy.kind": "backtest"}) if r.data.params["name"] == cfg.name]
    assert run.data.params["backtest.start"] == "2020-02-25"
    assert run.data.metrics["seasonal_naive/overall/mape"] > 0
    assert "seasonal_naive/city/syn-000/mae" in run.data.metrics
    assert "metrics.json" in {a.path for a in tracking.client().list_artifacts(run.info.run_id)}


def test_tracking_off_logs_nothing(monkeypatch, trained):
    monkeypatch.setenv("ENERGY_TRACKING", "0")
    assert not tracking.enabled()
    before = len(_runs(**{"energy.kind": "tune"}))
    with tracking.start_run("off", kind="tune", params={"a": 1}) as run:
        run.log_metrics({"x": 1.0})
        assert run.id is None
    assert len(_runs(**{"energy.kind": "tune"})) == before
    with pytest.raises(tracking.TrackingError, match="ENERGY_TRACKING is off"):
        tracking.register_package(trained["out"], name="never")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_is_a_clear_error(monkeypatch):
    uri = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    pattern = f"no MLflow tracking server answers at '{uri}'.*make mlflow-server"
    with pytest.raises(tracking.TrackingUnavailableError, match=pattern):
        tracking.alias_version("energy-forecast")
    with pytest.raises(tracking.TrackingUnavailableError, match=pattern):  # noqa: SIM117
        with tracking.start_run("x", kind="train"):
            pass
    # the CLI: one line, exit status 2
    proc = subprocess.run(
        [sys.executable, "-m", "energy", "registry", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"MLFLOW_TRACKING_URI": uri},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: MLFLOW_TRACKING_URI: no MLflow tracking server answers")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "localhost:5000/x")
    with pytest.raises(tracking.TrackingUnavailableError, match="is not a URI"):
        tracking.alias_version("energy-forecast")


@pytest.mark.ray
def test_runs_from_ray_workers_nest_under_the_parent_run():
    import ray

    ray.init(
        address="local",
        num_cpus=1,
        include_dashboard=False,
        object_store_memory=100 * 1024**2,
        log_to_driver=False,
    )
    try:

        @ray.remote(num_cpus=0.5)
        def trial(uri: str, parent: str, i: int) -> tuple[str, str]:
            os.environ["MLFLOW_TRACKING_URI"] = uri  # what a Tune trial gets from the driver
            from energy import tracking as t

            with t.start_run(f"trial {i}", kind="trial", parent_run_id=parent) as r:
                r.log_metrics({"val_mape": 3.0 + i}, step=1)
            assert r.id is not None
            return r.id, os.getcwd()

        with tracking.start_run("nested-parent", kind="tune") as parent:
            assert parent.id is not None
            ids = ray.get([trial.remote(tracking.tracking_uri(), parent.id, i) for i in range(2)])
    finally:
        ray.shutdown()
    children = _runs(**{"mlflow.parentRunId": parent.id})
    assert sorted(r.info.run_id for r in children) == sorted(i for i, _ in ids)
    assert sorted(r.data.metrics["val_mape"] for r in children) == [3.0, 4.0]
    assert {r.info.experiment_id for r in children} == {
        tracking.client().get_run(parent.id).info.experiment_id
    }
