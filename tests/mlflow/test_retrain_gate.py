"""Retraining through the one training pipeline on a real store: a weekly run on a sound window
becomes the champion; a worse daily run is registered (alias ``challenger``) and not promoted,
the champion compared on the daily run's own validation day."""

from __future__ import annotations

import pytest
from mlflow_helpers import TINY, tiny_config

from energy.lifecycle.retrain import RetrainSettings, WindowSettings, retrain

pytest.importorskip("energy.lifecycle.pipeline")  # the training pipeline (branch i12-pipeline)
pytestmark = pytest.mark.mlflow
# the synthetic set has 60 days: a 30-day "weekly" window, the seed's daily one
WINDOWS = RetrainSettings(
    windows={
        "weekly": WindowSettings(train_days=30, val_days=7),
        "daily": WindowSettings(train_days=7, val_days=1),
    }
)


def test_a_worse_retrain_registers_but_does_not_promote(synth_data, tmp_path, model_name):
    from energy import tracking

    promo = TINY["promotion"] | {"registered_model": model_name}
    good = tiny_config(models={"xgboost": {"n_estimators": 30, "n_jobs": 1}}, promotion=promo)
    bad = tiny_config(
        models={"xgboost": {"n_estimators": 1, "learning_rate": 0.01, "n_jobs": 1}},
        promotion=promo,
    )
    first = retrain("weekly", good, synth_data, tmp_path / "weekly", kind="xgboost",
                    settings=WINDOWS)  # fmt: skip
    assert first.result.version == "1" and first.promoted
    events: list[tuple[str, dict]] = []
    worse = retrain("daily", bad, synth_data, tmp_path / "daily", kind="xgboost", settings=WINDOWS,
                    notify=lambda k, p: events.append((k, p)))  # fmt: skip
    assert worse.result.version == "2" and not worse.promoted
    assert tracking.alias_version(model_name, "champion") == "1"
    assert worse.result.protocol.as_dict()["start"] >= worse.window.as_dict()["start"][:10]
    assert worse.result.data_hash == worse.data_hash  # the window's own hash, on the version
    v2 = tracking.get_version(model_name, "2")
    assert v2.tags["data_hash"] == worse.data_hash and v2.tags["retrain_mode"] == "daily"
    run_tags = tracking.client().get_run(worse.result.run_id).data.tags
    assert run_tags["retrain_reason"] == "scheduled daily"
    assert run_tags["retrain_data_hash"] == worse.data_hash
    [(kind, payload)] = events
    assert kind == "retraining_done" and payload["promoted"] is False and payload["version"] == "2"
