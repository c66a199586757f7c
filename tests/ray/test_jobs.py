"""The job entry points in-process on the module's small Ray instance: ``jobs.train`` fans a
per-city model out as Ray tasks through the pipeline; ``jobs.backtest`` runs under the same
backend; bad options fail before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from energy.models.base import Forecaster
from jobs import backtest as backtest_job
from jobs import train as train_job

pytestmark = pytest.mark.ray
CONFIG = {
    "name": "tiny-job",
    "scope": "per_city",
    "features": {"horizon": 24, "lags": [24, 48, 168]},
    "models": {"xgboost": {"n_estimators": 5, "n_jobs": 1, "strategy": "shared"}},
    "ensemble": {"method": "mean", "val_days": 7},
    "baselines": ["seasonal_naive"],
    "promotion": {"windows_days": 5},
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from energy.data.ingest import synth_dataset

    root = tmp_path_factory.mktemp("jobs")
    synth_dataset(root / "data", n_cities=2, days=45, seed=2)
    (root / "tiny.yaml").write_text(yaml.safe_dump(CONFIG))
    return root / "data", root / "tiny.yaml"


def test_train_job_runs_the_pipeline_on_ray(ray_local, setup, tmp_path, capsys):
    data, cfg = setup
    train_job.main(
        ["--config", str(cfg), "--data", str(data), "--out", str(tmp_path), "--model",
         "xgboost", "--cities", "syn-000,syn-001", "--ray", "cpus_per_task=0.5",
         "--no-register", "--no-track"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert "[energy] Ray backend on" in err and "cities 2/2 done, 0 failed" in err
    assert out.startswith("trained xgboost on 2 cities in ") and "registered" not in out
    model = Forecaster.load(tmp_path / "model")
    assert model.kind == "per_city" and sorted(model.models_) == ["syn-000", "syn-001"]
    summary = json.loads((tmp_path / "train.json").read_text())
    assert summary["metrics"]["mape"] > 0 and summary["run_id"] is None


def test_backtest_job_writes_the_backtest(ray_local, setup, tmp_path, capsys):
    data, cfg = setup
    backtest_job.main(
        ["--config", str(cfg), "--data", str(data), "--out", str(tmp_path), "--model",
         "seasonal_naive", "--start", "2020-02-05", "--end", "2020-02-08", "--no-baselines"]
    )  # fmt: skip
    out, _ = capsys.readouterr()
    assert "seasonal_naive" in out
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "compare.txt").is_file()


def test_bad_options_fail_before_any_work(tmp_path):
    with pytest.raises(SystemExit):  # argparse: --data is required
        train_job.main(["--config", "cpu", "--out", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="--config: 'nosuch' does not exist"):
        backtest_job.main(
            ["--config", "nosuch", "--data", str(tmp_path), "--out", str(tmp_path),
             "--start", "2020-01-01", "--end", "2020-01-02"]
        )  # fmt: skip
