"""`energy train` and `energy backtest` as a user runs them, on a slice of real ISO-NE data."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_cli_data import assert_user_error, energy

from energy.models.base import Forecaster

pytestmark = pytest.mark.e2e

TINY = """
horizon: 24
features: {horizon: 24, lags: [24, 48, 168]}
models:
  xgboost: {n_estimators: 10, strategy: shared, n_jobs: 1}
  lstm: {hidden_sizes: [8], lookback: 168, epochs: 1, max_train_windows_per_epoch: 256}
ensemble: {method: inverse_error, val_days: 7}
baselines: [seasonal_naive]
"""


@pytest.fixture(scope="module")
def isone(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("data") / "isone"
    proc = energy("data", "import", "isone", shared_data / "isone_smd_2017", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_train_then_backtest(tmp_path, isone):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    run = tmp_path / "run"
    proc = energy(
        "train", "--config", cfg, "--data", isone, "--cities", "CT,ME", "--out", run,
        "--backend", "local",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "[energy] training ensemble" in proc.stderr
    assert "[energy] lstm: epoch 1/1" in proc.stderr  # progress of long work
    summary = json.loads((run / "train.json").read_text())
    assert summary["cities"] == ["CT", "ME"] and summary["data_hash"]
    model = Forecaster.load(run / "model")
    assert model.kind == "ensemble" and model.train_cities_ == ["CT", "ME"]

    bt = tmp_path / "bt"
    proc = energy(
        "backtest", "--config", cfg, "--data", isone, "--cities", "CT,ME",
        "--start", "2017-04-20", "--end", "2017-04-24", "--out", bt,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    pred = pd.read_parquet(bt / "predictions.parquet")
    assert {"city_id", "origin", "timestamp", "y", "yhat", "yhat_xgboost", "yhat_lstm"} <= set(
        pred.columns
    )
    assert len(pred) == 2 * 4 * 24 and pred["yhat"].notna().all()
    # origins at local midnight in America/New_York (EDT in April: 04:00 UTC)
    assert set(pred["origin"].dt.hour) == {4}
    metrics = json.loads((bt / "metrics.json").read_text())
    assert metrics["metrics"]["models"]["ensemble"]["overall"]["mape"] > 0
    for png in ("mape_by_city.png", "error_by_hour.png"):
        assert any(p.name == png for p in bt.iterdir()), sorted(p.name for p in bt.iterdir())
    assert (bt / "baselines" / "seasonal_naive" / "metrics.json").is_file()
    assert "seasonal_naive" in proc.stdout and "ensemble" in proc.stdout


def test_bad_configs_are_one_line_errors(tmp_path, isone):
    bad = tmp_path / "bad.yaml"
    bad.write_text("horizon: -3\n")
    assert_user_error(
        energy("train", "--config", bad, "--data", isone, "--out", tmp_path / "o"),
        r"horizon: Input should be greater than or equal to 1 \(got -3\)",
    )
    bad.write_text("modelz: {}\n")
    assert_user_error(
        energy("train", "--config", bad, "--data", isone, "--out", tmp_path / "o"),
        r"modelz: Extra inputs are not permitted",
    )
    bad.write_text("features: {lags: [24, 336]}\nmodels:\n  lstm: {lookback: 168}\n")
    assert_user_error(
        energy("train", "--config", bad, "--data", isone, "--out", tmp_path / "o"),
        r"models.lstm.lookback: 168 h is shorter than its largest load lag 336 h",
    )
    bad.write_text("models:\n  xgboost: {max_dept: 3}\n")
    assert_user_error(
        energy("train", "--config", bad, "--data", isone, "--out", tmp_path / "o"),
        r"max_dept",
    )
    assert_user_error(
        energy("train", "--config", "nosuch", "--data", isone, "--out", tmp_path / "o"),
        r"--config: 'nosuch' does not exist",
    )
    assert_user_error(
        energy(
            "train", "--config", "cpu", "--data", isone, "--cities", "XX", "--out", tmp_path / "o"
        ),
        r"--cities: unknown city_id 'XX'",
    )
    for start, end, pattern in (
        ("notadate", "2017-04-10", r"--start: cannot read 'notadate' as a date"),
        ("2017-04-10", "2017-04-01", r"--end: '2017-04-01' is not after --start '2017-04-10'"),
        ("2019-01-01", "2019-02-01", r"no complete day-ahead origin"),
    ):
        proc = energy(
            "backtest", "--config", "cpu", "--data", isone, "--start", start, "--end", end,
            "--out", tmp_path / "b",
        )  # fmt: skip
        assert_user_error(proc, pattern)
