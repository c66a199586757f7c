"""A loaded model package: a trained forecaster plus what answering a forecast needs.

``energy train`` writes one (:func:`energy.forecast.package_io.write_package`); the registry stores
it as an MLflow model (energy.tracking); the Serve app, the pyfunc and batch jobs load it with
:func:`~energy.forecast.package_io.read_package` and ask it through
:func:`energy.forecast.forecast`. This module holds the loaded state and its look-ups only: no file
I/O (``package_io``) and no forecasting logic (``engine``). See ``package_io`` for the layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from energy import schema
from energy.data.dataset import Dataset
from energy.forecast import engine
from energy.forecast.errors import UnknownCityError
from energy.forecast.query import ForecastQuery
from energy.models.base import Forecaster

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE_FILE = "package.json"
MODEL_DIR = "model"
HOUR = pd.Timedelta(hours=1)
# Names that moved to energy.forecast.package_io / .query; still importable from here.
_MOVED = {
    "read_package": "energy.forecast.package_io",
    "write_package": "energy.forecast.package_io",
    "verify_package": "energy.forecast.package_io",
    "parse_start": "energy.forecast.query",
}


class ModelPackage:
    """A loaded package (read-only after loading, so safe to share between threads).

    Attributes:
        model: the trained forecaster (an ensemble, a single model, a per-city wrapper).
        history: recent canonical load rows per city (UTC, MW), the cities table and events.
        meta: the package.json contents (kind, config, trained-at, data hash, metrics, ...).
        max_horizon: the longest horizon in hours the package answers; derived from its trained
            models when written and stored once in package.json (``max_horizon_hours``).
        path: the directory it was read from, if any.
    """

    def __init__(
        self, model: Forecaster, history: Dataset, meta: dict[str, Any], path: Path | None = None
    ) -> None:
        self.model = model
        self.history = history
        self.meta = meta
        self.path = path
        self.max_horizon = int(meta.get("max_horizon_hours") or model.max_horizon)
        load = history.load
        # rows sorted by city (then as stored), each city one block: a request takes its cities'
        # blocks with one `take` instead of concatenating one frame per city
        self._rows = load.sort_values(schema.CITY, kind="stable", ignore_index=True)
        ids, starts, counts = np.unique(
            self._rows[schema.CITY].astype(str).to_numpy(), return_index=True, return_counts=True
        )
        blocks = zip(ids, starts, counts, strict=True)
        self._by_city = {str(c): (int(a), int(n)) for c, a, n in blocks}
        known = load[load[schema.LOAD].notna()]
        self._last_load = known.groupby(schema.CITY)[schema.TIME].max().to_dict()
        self._first_time = load.groupby(schema.CITY)[schema.TIME].min().to_dict()
        self._timezones = {c: history.timezone_of(c) for c in self._by_city}

    @property
    def cities(self) -> list[str]:
        """City ids the package forecasts, sorted."""
        return sorted(self._by_city)

    @property
    def members(self) -> list[str]:
        """Member names of an ensemble (``yhat_<name>`` columns), else empty."""
        return list(getattr(self.model, "members_", {}))

    @property
    def timezones(self) -> dict[str, str]:
        """City id → IANA time zone."""
        return self._timezones

    def check_city(self, city_id: str) -> None:
        """Raise :class:`UnknownCityError` unless the package holds ``city_id``."""
        if city_id not in self._by_city:
            shown = ", ".join(self.cities[:10]) + (" ..." if len(self.cities) > 10 else "")
            raise UnknownCityError("city_id", city_id, f"unknown city {city_id!r} (have {shown})")

    def last_load_time(self, city_id: str) -> pd.Timestamp:
        """UTC hour of the last stored load of a city."""
        self.check_city(city_id)
        return pd.Timestamp(self._last_load[city_id])

    def next_start(self, city_id: str) -> pd.Timestamp:
        """The default forecast start of a city: the hour after its last stored load (UTC)."""
        return self.last_load_time(city_id) + HOUR

    def set_threads(self, n: int) -> None:
        """Compute threads for this process's forecasts: torch's intra-op threads and every
        XGBoost booster's ``nthread`` (a replica of one CPU runs one thread, not two fighting)."""
        import torch

        torch.set_num_threads(max(1, n))
        stack = [self.model]
        while stack:
            m = stack.pop()
            stack.extend(m._parts())
            for booster in getattr(m, "boosters_", []):
                booster.set_param({"nthread": max(1, n)})

    def load_span(self) -> tuple[dict[str, pd.Timestamp], dict[str, pd.Timestamp]]:
        """City id → UTC hour of its last stored load, and of its first stored row."""
        return self._last_load, self._first_time

    def stored_rows(self, city_ids: list[str]) -> pd.DataFrame:
        """Stored canonical load rows of some cities (each must be known), in that order."""
        blocks = [self._by_city[c] for c in city_ids]
        parts = [np.arange(a, a + n) for a, n in blocks]
        idx = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return self._rows.take(idx).reset_index(drop=True)

    def forecast(
        self,
        city_ids: list[str],
        *,
        start: pd.Timestamp | str | None = None,
        horizon: int = 24,
        weather: pd.DataFrame | None = None,
        history: pd.DataFrame | None = None,
        members: bool = False,
    ) -> pd.DataFrame:
        """Shorthand for ``energy.forecast.forecast(self, ForecastQuery(...))`` (same arguments;
        ``horizon`` is ``horizon_hours``). Raises the errors of :mod:`energy.forecast.errors`."""
        query = ForecastQuery(
            tuple(city_ids) if not isinstance(city_ids, str) else (city_ids,),
            start=start,
            horizon_hours=horizon,
            weather=weather,
            history=history,
            members=members,
        )
        return engine.forecast(self, query)


def __getattr__(name: str) -> Any:
    """Old import places of the package I/O and start parsing (``from ...package import X``)."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
