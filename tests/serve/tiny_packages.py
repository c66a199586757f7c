"""Tiny model packages for the serve tier: real members (XGBoost, LSTM, Transformer), tiny sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.forecast.package import write_package
from energy.models import kinds as registry

_NEURAL = {"epochs": 1, "batch_size": 64, "lookback": 48, "max_train_windows_per_epoch": 256}
TINY_ENSEMBLE: dict[str, Any] = {
    "members": {
        "xgboost": {"kind": "xgboost", "config": {"n_estimators": 5, "max_depth": 3, "n_jobs": 1}},
        "lstm": {"kind": "lstm", "config": {**_NEURAL, "hidden_sizes": [8]}},
        "transformer": {
            "kind": "transformer",
            "config": {**_NEURAL, "d_model": 8, "n_heads": 2, "n_layers": 1, "dim_feedforward": 16},
        },
    },
    "method": "inverse_error",
    "val_days": 7,
}
# a second, different champion: cheap baselines (hot-reload tests tell the two apart)
BASELINE_ENSEMBLE: dict[str, Any] = {
    "members": {"naive": {"kind": "seasonal_naive"}, "mlr": {"kind": "vanilla_mlr"}},
    "method": "mean",
}


def synthetic(n_cities: int = 3, days: int = 50, seed: int = 7) -> Dataset:
    load, cities, events = generate(n_cities, days, seed=seed)
    return Dataset(load=load, cities=cities, events=events, manifest={"content_hash": f"syn{seed}"})


def build_package(
    out: Path, data: Dataset, config: dict[str, Any] | None = None, name: str = "tiny"
) -> Path:
    """Fit an ensemble on ``data`` and write it as a package under ``out``."""
    model = registry.create("ensemble", config or TINY_ENSEMBLE).fit(data)
    return write_package(model, data, out, meta={"config_name": name})
