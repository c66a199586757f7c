"""Day-ahead accuracy and CPU training time of the default LSTM and Transformer on GEFCom2012.

Data: ``data/gefcom2012`` (imported with ``energy data import``), else imported here from
``../shared/data/gefcom2012_load``. 20 US utility zones, loads in MW, UTC timestamps, zone clock
UTC−5 (fixed). Train: every hour before 2008-03-01 00:00 UTC; validation (early stopping): March
2008. Test: one forecast per zone from each local midnight 2008-04-01 … 2008-06-29, 24 hours ahead,
with the actual (ex-post) temperatures as the weather "forecast". Reference: the seasonal naive
forecast (same hour one week earlier).

Prints per-epoch and total training time, per-zone MAPE and its mean, then ONE JSON line::

    {"lstm_mape": .., "lstm_fit_s": .., "lstm_fit_cpu_s": .., "transformer_mape": ..,
     "transformer_fit_s": .., "transformer_fit_cpu_s": .., "seasonal_naive_mape": ..}

MAPE in %, times in seconds (``fit_s`` wall clock, ``fit_cpu_s`` process CPU time: the figure to
compare on a shared machine, as torch runs one thread).

Usage: ``python bench/neural_cpu.py [--models lstm,transformer] [--lstm '{"epochs": 4}']
[--transformer '{...}'] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from energy import schema
from energy.data.dataset import Dataset, read_dataset
from energy.models.kinds import create

REPO = Path(__file__).resolve().parents[1]
TRAIN_END = pd.Timestamp("2008-03-01", tz="UTC")
VAL_END = pd.Timestamp("2008-04-01", tz="UTC")
TEST_DAYS = pd.date_range("2008-04-01", "2008-06-29", freq="D")  # local dates


def load_data(path: Path) -> Dataset:
    if (path / "manifest.json").is_file():
        return read_dataset(path)
    from energy.data.ingest import import_dataset

    src = REPO.parent / "shared" / "data" / "gefcom2012_load"
    return import_dataset("gefcom2012", src, path)


def test_origins(ds: Dataset) -> pd.DataFrame:
    """Local midnight of every test day for every zone, as UTC origins."""
    rows = []
    for city in ds.city_ids:
        tz = ds.timezone_of(city)
        local = TEST_DAYS.tz_localize(tz)
        rows.append(pd.DataFrame({schema.CITY: city, "origin": local.tz_convert("UTC")}))
    return pd.concat(rows, ignore_index=True)


def mape_by_city(pred: pd.DataFrame, load: pd.DataFrame) -> pd.Series:
    """Mean absolute percentage error (%) per city over forecast hours with observed load."""
    actual = load[[schema.CITY, schema.TIME, schema.LOAD]]  # schema.TIME is "timestamp"
    m = pred.merge(actual, on=[schema.CITY, "timestamp"], how="inner")
    m = m[m[schema.LOAD] > 0]
    ape = (m["yhat"] - m[schema.LOAD]).abs() / m[schema.LOAD]
    return 100 * ape.groupby(m[schema.CITY]).mean()


def seasonal_naive(origins: pd.DataFrame, load: pd.DataFrame, horizon: int = 24) -> pd.DataFrame:
    """Same hour one week before each forecast hour (168 ≥ 24: known at the origin)."""
    steps = np.arange(horizon)
    pred = origins.loc[origins.index.repeat(horizon)].reset_index(drop=True)
    pred["timestamp"] = pred["origin"] + pd.to_timedelta(np.tile(steps, len(origins)), unit="h")
    week = pd.DataFrame(
        {
            schema.CITY: load[schema.CITY],
            "timestamp": load[schema.TIME] + pd.Timedelta(hours=168),
            "yhat": load[schema.LOAD],
        }
    )
    return pred.merge(week, on=[schema.CITY, "timestamp"], how="left")


def run(kind: str, ds: Dataset, overrides: dict, origins: pd.DataFrame) -> dict:
    load = ds.load
    train = Dataset(load=load[load[schema.TIME] < TRAIN_END], cities=ds.cities, events=ds.events)
    val_rows = (load[schema.TIME] >= TRAIN_END) & (load[schema.TIME] < VAL_END)
    val = Dataset(load=load[val_rows], cities=ds.cities, events=ds.events)
    model = create(kind, overrides)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(train, val)
    fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    hist = model.history_  # type: ignore[attr-defined]
    for h in hist:
        print(f"  {kind} epoch {int(h['epoch'])}: train {h['train_loss']:.4f} "
              f"val {h['val_loss']:.4f} lr {h['lr']:.1e} {h['epoch_s']:.1f} s")  # fmt: skip
    need = pd.Timedelta(hours=model.capabilities.min_history_hours + 24)
    first, last = origins["origin"].min() - need, origins["origin"].max() + pd.Timedelta(hours=24)
    frame = load[(load[schema.TIME] >= first) & (load[schema.TIME] < last)]
    t0 = time.perf_counter()
    pred = model.predict_origins(frame, ds.cities, origins, horizon=24)
    predict_s = time.perf_counter() - t0
    mape = mape_by_city(pred, load)
    assert not pred["yhat"].isna().any(), f"{kind}: NaN forecasts"
    print(f"{kind}: fit {fit_s:.1f} s wall, {fit_cpu_s:.1f} s CPU ({len(hist)} epochs, "
          f"{np.mean([h['epoch_s'] for h in hist]):.1f} s/epoch), predict {predict_s:.1f} s "
          f"for {len(origins)} origins; MAPE mean {mape.mean():.2f} %, median "
          f"{mape.median():.2f} %")  # fmt: skip
    print("  per zone:", " ".join(f"{c[-2:]}:{v:.1f}" for c, v in mape.items()))
    return {"mape": float(mape.mean()), "fit_s": fit_s, "fit_cpu_s": fit_cpu_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO / "data" / "gefcom2012")
    ap.add_argument("--models", default="lstm,transformer")
    ap.add_argument("--lstm", default="{}", help="JSON overrides of the LSTM config")
    ap.add_argument("--transformer", default="{}", help="JSON overrides of the Transformer config")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = load_data(args.data)
    origins = test_origins(ds)
    naive = mape_by_city(seasonal_naive(origins, ds.load).dropna(subset=["yhat"]), ds.load)
    print(f"seasonal naive (t - 168 h): MAPE mean {naive.mean():.2f} %, "
          f"median {naive.median():.2f} %")  # fmt: skip
    out: dict[str, float] = {}
    for kind in args.models.split(","):
        res = run(kind, ds, json.loads(getattr(args, kind)), origins)
        out[f"{kind}_mape"] = round(res["mape"], 3)
        out[f"{kind}_fit_s"] = round(res["fit_s"], 1)
        out[f"{kind}_fit_cpu_s"] = round(res["fit_cpu_s"], 1)
    out["seasonal_naive_mape"] = round(float(naive.mean()), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
