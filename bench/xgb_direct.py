"""XGBoost direct multi-horizon: ``shared`` (one model, lags >= 24 h) vs ``per_step`` (one model per
step group, lags >= the group's last step) on GEFCom2012, day-ahead from local midnight.

Data: ``--data DIR`` (a data set from ``energy data import``); default ``data/gefcom2012`` when
it exists, else the shared GEFCom2012 copy imported into a temporary directory. Split (UTC):
train before 2008-03-01, validation (early stopping) 2008-03-01 → 2008-04-01, test origins at
local midnight every day 2008-04-01 → 2008-06-29, 24 h each, ex-post (actual) temperature.
Accuracy: MAPE (%) per zone over all test hours, averaged over zones. Fit times are wall-clock
seconds (CPU seconds alongside: on a shared machine they are the steadier figure).

Prints figures, then ONE JSON line::

    {"shared_mape": .., "per_step_mape": .., "shared_fit_s": .., "per_step_fit_s": ..}

About 3 min on an idle 2-core machine (per_step dominates: three models, ~6x the boosting rounds
of shared); several times that when the cores are shared.

Usage: ``python bench/xgb_direct.py [--data DIR] [--n-estimators 300] [--learning-rate 0.1]
[--n-jobs 2] [--mlr]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from energy import schema
from energy.data.dataset import Dataset, read_dataset
from energy.data.ingest import import_dataset
from energy.models.base import Forecaster
from energy.models.kinds import create

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "gefcom2012_load"
VAL_START = pd.Timestamp("2008-03-01", tz="UTC")
TEST_START = pd.Timestamp("2008-04-01", tz="UTC")
LAST_ORIGIN_DAY = "2008-06-29"
H = 24


def load_data(path: Path | None) -> Dataset:
    if path is None and (REPO / "data" / "gefcom2012").is_dir():
        path = REPO / "data" / "gefcom2012"
    if path is not None:
        return read_dataset(path)
    with tempfile.TemporaryDirectory() as tmp:
        return import_dataset("gefcom2012", SHARED, Path(tmp) / "gefcom2012")


def rows(ds: Dataset, lo: pd.Timestamp | None, hi: pd.Timestamp) -> Dataset:
    t = ds.load[schema.TIME]
    keep = (t < hi) if lo is None else (t >= lo) & (t < hi)
    return Dataset(ds.load[keep].reset_index(drop=True), ds.cities, ds.events, ds.manifest)


def midnight_origins(ds: Dataset) -> pd.DataFrame:
    """One origin per zone and day: local midnight, as UTC."""
    parts = []
    for city in ds.city_ids:
        days = pd.date_range(
            TEST_START.date(), LAST_ORIGIN_DAY, freq="D", tz=ds.timezone_of(city)
        ).tz_convert("UTC")
        parts.append(pd.DataFrame({schema.CITY: city, "origin": days}))
    return pd.concat(parts, ignore_index=True)


def score(pred: pd.DataFrame, actual: pd.Series) -> tuple[float, pd.Series]:
    """(MAPE % averaged over zones, MAPE % by step averaged over zones)."""
    y = actual.reindex(pd.MultiIndex.from_arrays([pred[schema.CITY], pred["timestamp"]]))
    df = pred.assign(y=y.to_numpy())
    df = df[df["y"] > 0]
    df = df.assign(ape=100 * (df["yhat"] - df["y"]).abs() / df["y"])
    per_city = df.groupby(schema.CITY)["ape"].mean()
    per_step = df.groupby([schema.CITY, "step"])["ape"].mean().groupby("step").mean()
    return float(per_city.mean()), per_step


def run(
    name: str, model: Forecaster, train: Dataset, val: Dataset, ds: Dataset, origins: pd.DataFrame
) -> dict[str, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(train, val)
    fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    frame = rows(ds, None, TEST_START + pd.Timedelta(days=92)).load
    t0 = time.perf_counter()
    pred = model.predict_origins(frame, ds.cities, origins, horizon=H)
    predict_s = time.perf_counter() - t0
    actual = ds.load.set_index([schema.CITY, schema.TIME])[schema.LOAD]
    mape, by_step = score(pred, actual)
    steps = " ".join(f"s{s}={by_step[s]:.2f}" for s in (1, 3, 6, 9, 12, 18, 24))
    print(
        f"{name:10s} MAPE {mape:6.3f} %   fit {fit_s:6.1f} s ({fit_cpu_s:6.1f} CPU-s)   "
        f"predict {predict_s:5.2f} s"
    )
    print(f"{'':10s} by step: {steps}")
    if hasattr(model, "boosters_"):
        print(f"{'':10s} trees kept: {[b.num_boosted_rounds() for b in model.boosters_]}")
    return {"mape": mape, "fit_s": fit_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--n-estimators", type=int, default=300)
    ap.add_argument("--learning-rate", type=float, default=0.1)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--mlr", action="store_true", help="also run the vanilla MLR benchmark")
    args = ap.parse_args()

    ds = load_data(args.data)
    train, val = rows(ds, None, VAL_START), rows(ds, VAL_START, TEST_START)
    origins = midnight_origins(ds)
    print(
        f"GEFCom2012: {len(ds.city_ids)} zones, train {len(train.load):,} rows "
        f"(< {VAL_START.date()}), val {len(val.load):,}, test {len(origins):,} origins × {H} h"
    )
    xgb_cfg = {
        "n_estimators": args.n_estimators,
        "learning_rate": args.learning_rate,
        "n_jobs": args.n_jobs,
    }
    res = {}
    res["seasonal_naive"] = run("naive-168", create("seasonal_naive"), train, val, ds, origins)
    if args.mlr:
        res["vanilla_mlr"] = run("mlr", create("vanilla_mlr"), train, val, ds, origins)
    for strategy in ("shared", "per_step"):
        model = create("xgboost", {**xgb_cfg, "strategy": strategy})
        res[strategy] = run(strategy, model, train, val, ds, origins)
    gain = res["shared"]["mape"] - res["per_step"]["mape"]
    print(f"per_step − shared: {-gain:+.3f} MAPE points ({-gain / res['shared']['mape']:+.1%})")
    keys = [(s, m) for m in ("mape", "fit_s") for s in ("shared", "per_step")]
    print(json.dumps({f"{s}_{m}": round(res[s][m], 3) for s, m in keys}))


if __name__ == "__main__":
    main()
