"""Registry of model kinds: the name used in configs and on disk → forecaster class."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from energy.models.base import Forecaster

# kind → "module:Class"; imported lazily so that using XGBoost never imports torch.
_KINDS: dict[str, str] = {
    "seasonal_naive": "energy.models.baselines:SeasonalNaive",
    "vanilla_mlr": "energy.models.baselines:VanillaMLR",
    "xgboost": "energy.models.xgb:XGBoostForecaster",
    "lstm": "energy.models.lstm:LSTMForecaster",
    "transformer": "energy.models.transformer:TransformerForecaster",
    "per_city": "energy.models.per_city:PerCityForecaster",
    "ensemble": "energy.models.ensemble:EnsembleForecaster",
}


def kinds() -> list[str]:
    return sorted(_KINDS)


def model_class(kind: str) -> type[Forecaster]:
    if kind not in _KINDS:
        raise ValueError(f"model kind: unknown {kind!r} (expected one of {', '.join(kinds())})")
    module, cls = _KINDS[kind].split(":")
    found: type[Forecaster] = getattr(import_module(module), cls)
    return found


def create(kind: str, config: dict | None = None) -> Forecaster:
    """A new, unfitted forecaster of ``kind``."""
    return model_class(kind)(config or {})
