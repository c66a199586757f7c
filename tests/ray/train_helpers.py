"""Tiny data and model configs shared by the Ray training tests (synthetic data: shapes and
behaviour only, never accuracy claims)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pandas as pd
import psutil

from energy import schema
from energy.data import synthetic
from energy.data.dataset import Dataset
from energy.features import FeatureConfig

CUT = pd.Timestamp("2020-02-05", tz="UTC")  # train before, validation for 4 days after
TEST = CUT + pd.Timedelta(days=4)
FEATURES = FeatureConfig(lags=(24, 48, 168), rolling_windows=(24,), temp_rolling_windows=(24,))
TINY_LSTM = {
    "features": FEATURES.model_dump(), "lookback": 48, "batch_size": 32, "epochs": 3,
    "patience": 0, "max_train_windows_per_epoch": None, "val_stride": 6,
    "hidden_sizes": [8], "head_hidden": 8, "future_dim": 4,
}  # fmt: skip
TINY_XGB = {
    "features": FEATURES.model_dump(), "strategy": "per_step", "step_groups": [12],
    "n_estimators": 40, "early_stopping_rounds": 10, "max_depth": 4, "n_jobs": 1,
}  # fmt: skip


def synthetic_data(n_cities: int = 2, days: int = 45, seed: int = 0) -> Dataset:
    load, cities, events = synthetic.generate(n_cities, days, seed=seed)
    return Dataset(load=load, cities=cities, events=events)


def rows(ds: Dataset, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None):
    """The rows of ``ds`` in ``[start, end)`` (UTC); None: unbounded."""
    t = ds.load[schema.TIME]
    keep = pd.Series(True, index=t.index)
    if start is not None:
        keep &= t >= start
    if end is not None:
        keep &= t < end
    return Dataset(load=ds.load[keep].reset_index(drop=True), cities=ds.cities, events=ds.events)


def day_ahead(ds: Dataset, days: int = 3) -> pd.DataFrame:
    """Origins at 00:00 UTC of ``days`` days from TEST, for every city."""
    times = [TEST + pd.Timedelta(days=d) for d in range(days)]
    return pd.DataFrame([(c, t) for c in ds.city_ids for t in times], columns=["city_id", "origin"])


def my_train_workers() -> Iterator[psutil.Process]:
    """Ray Train worker processes started by THIS test process (never other users' Ray)."""
    for p in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if "RayTrainWorker" in " ".join(p.cmdline()):
                yield p
        except psutil.Error:
            continue
