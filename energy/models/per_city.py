"""One model per city behind the one forecaster contract (the original design: a set per city).

``fit`` trains a fresh copy of the inner model on each city's rows alone (``Dataset.select``);
``predict`` routes each origin to its city's model. A city absent from training has no model: it
is an error, never a silent fallback to another city's.

On disk (besides the base layout)::

    DIR/per_city.json        city_id → sub-directory name
    DIR/cities/<dir>/        each city's model, saved by its own ``save``
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from energy import schema
from energy.data.dataset import Dataset
from energy.models.backend import current_backend
from energy.models.base import Capabilities, Forecaster, ModelConfig
from energy.models.spec import ModelSpec

log = logging.getLogger(__name__)
INDEX_FILE = "per_city.json"
CITIES_DIR = "cities"
_SAFE_DIR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class PerCityConfig(ModelConfig):
    """The inner model, trained once per city."""

    model: ModelSpec


class PerCityForecaster(Forecaster):
    """A fitted inner model per training city; fitted state: ``models_`` (city_id → model)."""

    kind = "per_city"
    Config = PerCityConfig
    config: PerCityConfig

    @property
    def capabilities(self) -> Capabilities:
        inner = self._inner().capabilities
        return Capabilities(
            uses_future_weather=inner.uses_future_weather,
            global_model=False,
            min_history_hours=inner.min_history_hours,
            supports_unseen_cities=False,
        )

    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        backend = current_backend()  # e.g. a fan-out of Ray tasks over the cities
        fitted = backend.fit_cities(self.config.model, train, val) if backend else None
        if fitted is not None:
            self.models_ = fitted
            return
        self.models_ = {
            city: fit_city(self.config.model, train, val, city) for city in train.city_ids
        }

    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        unseen = sorted(set(origins[schema.CITY]) - set(self.models_))
        if unseen:
            raise ValueError(
                f"per_city: no model for city_id {unseen[0]!r} (trained on "
                f"{', '.join(sorted(self.models_))}); a per-city model cannot forecast new cities"
            )
        out = np.full((len(origins), horizon), np.nan)
        for city, rows in origins.groupby(schema.CITY, sort=False).indices.items():
            out[rows] = self.models_[city]._predict_frame(
                frame[frame[schema.CITY] == city].reset_index(drop=True),
                cities[cities["city_id"] == city].reset_index(drop=True),
                origins.iloc[rows].reset_index(drop=True),
                horizon,
            )
        return out

    def _save_state(self, path: Path) -> None:
        dirs = {city: _dir_name(city, i) for i, city in enumerate(sorted(self.models_))}
        for city, model in self.models_.items():
            model.save(path / CITIES_DIR / dirs[city])
        (path / INDEX_FILE).write_text(json.dumps({"cities": dirs}, indent=2) + "\n")

    def _load_state(self, path: Path) -> None:
        dirs = json.loads((path / INDEX_FILE).read_text())["cities"]
        self.models_ = {city: Forecaster.load(path / CITIES_DIR / d) for city, d in dirs.items()}

    def _parts(self) -> list[Forecaster]:
        return list(getattr(self, "models_", {}).values()) or [self.config.model.build()]

    def _inner(self) -> Forecaster:
        """A fitted city model when there is one (capabilities may depend on fitted state)."""
        if getattr(self, "models_", None):
            return next(iter(self.models_.values()))
        return self.config.model.build()


def fit_city(spec: ModelSpec, train: Dataset, val: Dataset | None, city: str) -> Forecaster:
    """A fresh ``spec`` model fit on ``city``'s rows alone (its validation rows, if any): the
    unit of work of both the in-process loop and the distributed fan-out."""
    log.info("per_city: fitting %s for %r", spec.kind, city)
    city_val = val.select([city]) if val is not None and city in set(val.city_ids) else None
    return spec.build().fit(train.select([city]), city_val)


def _dir_name(city: str, index: int) -> str:
    """The city id when it is a safe directory name, else ``_<index>`` (never a safe name)."""
    return city if _SAFE_DIR.fullmatch(city) and len(city) <= 100 else f"_{index:05d}"
