"""Helpers of the MLflow test tier (named apart from tests/ray/helpers.py: both folders are on
sys.path under pytest's default import mode)."""

from __future__ import annotations

from typing import Any

TINY: dict[str, Any] = {
    "name": "tiny",
    "horizon": 24,
    "features": {"horizon": 24, "lags": [24, 48, 168]},
    "models": {"xgboost": {"n_estimators": 5, "n_jobs": 1}, "seasonal_naive": {}},
    "ensemble": {"method": "inverse_error", "val_days": 7},
    "baselines": ["seasonal_naive"],
    "promotion": {"windows_days": 7, "margin": 0.01, "city_tolerance": 0.05},
}


def tiny_config(**overrides: Any) -> Any:
    from energy.config.experiment import ExperimentConfig

    return ExperimentConfig.model_validate({**TINY, **overrides})
