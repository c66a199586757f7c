"""Every validation scheme of ``energy backtest --scheme`` on a small real GEFCom2012 slice
(3 zones, 2007-01-01 → 2007-03-01 UTC) with a 5-tree XGBoost and the seasonal naive: what each
scheme trains on and what it scores, read from its result (energy.evaluation.runner)."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from energy import schema
from energy.config.experiment import ExperimentConfig
from energy.data.dataset import Dataset, read_dataset
from energy.data.importers import gefcom2012
from energy.data.ingest import finish
from energy.evaluation.rolling import BacktestResult
from energy.evaluation.runner import backtest_models, run_scheme
from energy.evaluation.settings import BacktestSettings

pytestmark = pytest.mark.data

ZONES = ["zone_01", "zone_02", "zone_03"]
FIRST, END = pd.Timestamp("2007-01-01", tz="UTC"), pd.Timestamp("2007-03-01", tz="UTC")
TINY = {
    "features": {"horizon": 24, "lags": [24, 48, 168], "allow_unseen_cities": True},
    "models": {"xgboost": {"n_estimators": 5, "strategy": "shared", "n_jobs": 1}},
    "ensemble": {"val_days": 7},
    "baselines": ["seasonal_naive"],
    "backtest": {"folds": 3, "test_days": 7, "holdout_cities": 1, "city_splits": 2},
}


def gefcom_slice(shared_data: Path, out: Path) -> Path:
    """The slice as a data set directory (imported and cleaned like `energy data import`)."""
    raw = gefcom2012.read(shared_data / "gefcom2012_load")
    t = raw.load["timestamp"]
    keep = raw.load["city_id"].isin(ZONES) & (t >= FIRST) & (t < END)
    raw.load = raw.load[keep].reset_index(drop=True)
    raw.cities = raw.cities[raw.cities["city_id"].isin(ZONES)].reset_index(drop=True)
    finish(raw, out, command="test slice")
    return out


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    return gefcom_slice(shared_data, tmp_path_factory.mktemp("data") / "gefcom3")


@pytest.fixture(scope="module")
def data(data_dir: Path) -> Dataset:
    return read_dataset(data_dir)


@pytest.fixture(scope="module")
def cfg() -> ExperimentConfig:
    return ExperimentConfig.model_validate(TINY)


def _run(
    scheme: str, cfg: ExperimentConfig, data: Dataset, name: str = "xgboost", **kw: Any
) -> BacktestResult:
    return run_scheme(
        scheme, cfg.model_spec(name).build(), data, settings=cfg.backtest, horizon=cfg.horizon,
        val_days=cfg.ensemble.val_days, seed=cfg.seed, name=name, progress=None, **kw,
    )  # fmt: skip


def test_kfold_folds_tile_the_window_and_train_before_each(cfg, data) -> None:
    r = _run("kfold", cfg, data, start="2007-02-08", end="2007-03-01")
    folds = r.info["folds"]
    assert [f["fold"] for f in folds] == ["fold-0", "fold-1", "fold-2"]
    windows = [(pd.Timestamp(f["test_start"]), pd.Timestamp(f["test_end"])) for f in folds]
    # three 7-day windows, back to back, exactly covering [start, end): no gap, no overlap
    assert windows[0][0] == pd.Timestamp("2007-02-08", tz="UTC") and windows[-1][1] == END
    assert all(b[0] == a[1] for a, b in pairwise(windows))
    for f, (lo, hi) in zip(folds, windows, strict=True):
        got = r.predictions[r.predictions["fold"] == f["fold"]]
        assert len(got) and got["origin"].min() >= lo and got[schema.TIME].max() < hi
        assert pd.Timestamp(f["last_fit_row"]) < lo  # a fresh model fitted before its window
        assert f["train_cities"] == ZONES
    assert 0 < r.overall["mape"] < 30 and r.predictions["y"].notna().all()


def test_out_of_time_trains_strictly_before_the_test_window(cfg, data) -> None:
    r = _run("out-of-time", cfg, data, start="2007-02-15")
    lo = pd.Timestamp("2007-02-15", tz="UTC")
    assert pd.Timestamp(r.info["last_fit_row"]) < lo
    assert r.predictions["origin"].min() >= lo and r.predictions[schema.TIME].max() < END
    assert r.info["scheme"] == "out_of_time" and r.info["n_origins"] == 3 * 13
    # without --start: the last backtest.test_days days
    tail = _run("out-of-time", cfg, data)
    assert tail.predictions["origin"].min() >= END - pd.Timedelta(days=7)


def test_citywise_never_trains_on_the_held_out_city(cfg, data) -> None:
    r = _run("citywise", cfg, data)
    assert r.skipped is None and len(r.info["folds"]) == 2
    for f in r.info["folds"]:
        (held,) = f["test_cities"]
        assert held not in f["train_cities"] and len(f["train_cities"]) == 2
        got = r.predictions[r.predictions["fold"] == f["fold"]]
        assert set(got[schema.CITY]) == {held} and got["yhat"].notna().all()
    # a seasonal naive has nothing to repeat for a city whose load it never sees: skipped, said why
    naive = _run("citywise", cfg, data, name="seasonal_naive")
    assert naive.skipped and "without their load history" in naive.skipped


def test_backtest_models_writes_each_models_files(cfg, data, tmp_path) -> None:
    names = ["xgboost", "seasonal_naive"]
    res = backtest_models(
        {n: cfg.model_spec(n).build() for n in names}, data, tmp_path, "rolling",
        start="2007-02-20", end="2007-02-24", settings=BacktestSettings(), val_days=7,
        progress=None,
    )  # fmt: skip
    assert list(res["compare"].index) == names
    # rolling: local dates, one fit before the first origin (local midnight, 05:00 UTC in EST)
    r = res["results"]["xgboost"]
    assert r.info["scheme"] == "backtest" and set(r.predictions["origin"].dt.hour) == {5}
    assert r.info["n_origins"] == 3 * 4
    for where in (tmp_path, tmp_path / "baselines" / "seasonal_naive"):
        assert {"predictions.parquet", "metrics.json", "mape_by_city.png"} <= {
            p.name for p in where.iterdir()
        }
    assert "seasonal_naive" in (tmp_path / "compare.txt").read_text()


def test_scheme_errors_name_the_flag(cfg, data) -> None:
    with pytest.raises(ValueError, match="--scheme: expected one of rolling, kfold"):
        _run("k-fold", cfg, data)
    with pytest.raises(ValueError, match="--start/--end: both are required"):
        _run("rolling", cfg, data)
    with pytest.raises(ValueError, match="--start: cannot read 'soon'"):
        _run("out-of-time", cfg, data, start="soon")
    with pytest.raises(ValueError, match=r"cannot hold backtest\.folds=3 folds"):
        _run("kfold", cfg, data, start="2007-02-27", end="2007-03-01")


# ---- the command line ----------------------------------------------------------------------------
def energy(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "energy", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.e2e
def test_cli_citywise_writes_predictions_metrics_and_plots(data_dir, tmp_path) -> None:
    profile = tmp_path / "tiny.yaml"
    profile.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "bt"
    proc = energy(
        "backtest", "--config", profile, "--data", data_dir, "--scheme", "citywise",
        "--model", "xgboost", "--no-baselines", "--out", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "xgboost" in proc.stdout  # the comparison table
    assert {"predictions.parquet", "metrics.json", "metrics.md", "error_by_hour.png"} <= {
        p.name for p in out.iterdir()
    }
    info = json.loads((out / "metrics.json").read_text())["info"]
    assert info["scheme"] == "citywise" and len(info["folds"]) == 2
    for f in info["folds"]:
        assert not set(f["test_cities"]) & set(f["train_cities"])
    pred = pd.read_parquet(out / "predictions.parquet")
    assert set(pred["fold"]) == {"cities-0", "cities-1"}


@pytest.mark.e2e
def test_cli_scheme_and_config_errors_are_one_line(data_dir, tmp_path) -> None:
    for args, pattern in (
        (("--scheme", "k-fold"), "--scheme: expected one of rolling, kfold, out-of-time, citywise"),
        ((), "--start/--end: both are required with --scheme rolling"),
    ):
        proc = energy("backtest", "--config", "cpu", "--data", data_dir, "--out", tmp_path, *args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert pattern in proc.stderr.splitlines()[-1], proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  xgboost: {max_dept: 3}\nbacktest: {fold: 2}\n")
    proc = energy("config", "show", bad)
    assert proc.returncode == 2 and proc.stderr.count("error:") == 1, proc.stderr
    assert "models.xgboost.max_dept: Extra inputs" in proc.stderr and "backtest.fold" in proc.stderr
