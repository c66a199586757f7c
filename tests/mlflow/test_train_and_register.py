"""The training pipeline end to end on a real store: one read of the data, then the run,
the registered version and the gate's decision, with the metrics handed over as values."""

from __future__ import annotations

import pytest
from mlflow_helpers import TINY, tiny_config

from energy import tracking
from energy.lifecycle import experiment
from energy.lifecycle.pipeline import train_and_register

pytestmark = pytest.mark.mlflow


def test_train_and_register_hands_metrics_to_the_gate(
    synth_data, tmp_path, model_name, monkeypatch
):
    reads = []
    real = experiment.read_dataset
    monkeypatch.setattr(
        experiment, "read_dataset", lambda *a, **k: reads.append(a) or real(*a, **k)
    )
    cfg = tiny_config(promotion=TINY["promotion"] | {"registered_model": model_name})
    said: list[str] = []
    result = train_and_register(cfg, synth_data, tmp_path, kind="xgboost", progress=said.append)
    assert len(reads) == 1  # the gate got the data set the run had read
    assert result.version == "1" and result.promoted
    assert result.decision is not None and "first version" in result.decision.reason
    # the gate decided on the run's own numbers (tags hold them rounded to 6 digits)
    assert result.decision.challenger == result.metrics["overall"]["mape"]
    assert tracking.alias_version(model_name, "champion") == "1"
    v = tracking.get_version(model_name, "1")
    assert v.run_id == result.run_id and v.tags["protocol_id"] == result.protocol.id
    assert v.tags["kind"] == "xgboost" and v.tags["data_hash"] == result.data_hash
    mape = result.metrics["overall"]["mape"]
    assert v.metrics["overall"]["mape"] == pytest.approx(mape, rel=1e-5)  # "%.6g" in the tag
    assert set(v.metrics["per_city"]) == set(result.cities)
    assert result.describe().endswith(
        f"registered {model_name} v1: promoted to champion ({result.decision.reason})"
    )
    assert any(m.startswith(f"registered {model_name} v1") for m in said)


def test_an_mlflow_outage_keeps_the_model_and_register_tracks_it_later(
    synth_data, tmp_path, model_name, monkeypatch
):
    """Issue 18, item 7: the package is written before any tracking call; tracking is retried;
    when it still fails the error names `energy registry register OUT`, which registers it."""
    import energy.lifecycle.pipeline as pipeline
    from energy.cli.main import main
    from energy.forecast import read_package

    calls: list[str] = []

    def down(*args, **kwargs):
        calls.append("start_run")
        raise ConnectionError("tracking server unreachable")

    monkeypatch.setattr(pipeline, "TRACK_WAIT_S", 0.0)
    monkeypatch.setattr(tracking, "start_run", down)
    cfg = tiny_config(promotion=TINY["promotion"] | {"registered_model": model_name})
    out = tmp_path / "run"
    with pytest.raises(tracking.TrackingError, match="energy registry register") as err:
        train_and_register(cfg, synth_data, out, kind="xgboost")
    assert calls == ["start_run"] * pipeline.TRACK_ATTEMPTS and str(out) in str(err.value)
    assert read_package(out).model.kind == "xgboost"  # the trained model is kept, verified
    assert (out / "backtest").is_dir() and tracking.list_versions(model_name) == []

    monkeypatch.undo()  # the server is back
    with pytest.raises(SystemExit) as done:
        main(["registry", "register", str(out)])
    assert done.value.code in (0, None)
    assert tracking.alias_version(model_name, "champion") == "1"  # the first version: champion
    v = tracking.get_version(model_name, "1")
    assert v.tags["kind"] == "xgboost" and v.run_id
