"""``python -m jobs.retrain`` in-process on the module's small Ray instance: a daily run on a
tiny synthetic set trains through the pipeline on Ray, registers, and prints its outcome."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from jobs import retrain as retrain_job

pytestmark = [pytest.mark.ray, pytest.mark.timeout(400)]


def test_daily_retrain_job_registers_on_ray(ray_local, tmp_path: Path, capsys):
    from energy.data.ingest import synth_dataset

    synth_dataset(tmp_path / "data", n_cities=2, days=30, seed=3)
    name = f"test-retrain-{uuid.uuid4().hex[:8]}"
    cfg = {
        "name": "tiny-retrain", "scope": "per_city",
        "features": {"horizon": 24, "lags": [24, 48, 168]},
        "models": {"xgboost": {"n_estimators": 5, "n_jobs": 1, "strategy": "shared"}},
        "baselines": [], "promotion": {"registered_model": name},
    }  # fmt: skip
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    retrain_job.main(
        ["--mode", "daily", "--config", str(tmp_path / "tiny.yaml"), "--data",
         str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--model", "xgboost",
         "--ray", "cpus_per_task=0.5", "--reason", "test"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["mode"] == "daily" and summary["version"] == "1" and summary["promoted"]
    assert summary["reason"] == "test" and len(summary["data_hash"]) == 64
    assert "Ray backend on" in err and "daily retraining on" in err
