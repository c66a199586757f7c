"""One contract for every forecaster: baselines, XGBoost, LSTM, Transformer, per-city wrappers and
the ensemble. The tuner, evaluator, registry and server see only this type.

Vocabulary (all times UTC, hour-beginning; loads in MW):

* **frame**: a canonical load table (``city_id``, ``timestamp``, ``load_mw``, weather, ...) holding
  each city's history *and* the rows of the hours to forecast. Load in forecast hours is ignored.
* **origin**: the first forecast hour. A forecast from origin ``o`` may use load only at
  timestamps ``< o`` and covariates (calendar, weather) at any timestamp up to ``o + horizon - 1``.
* **horizon**: number of hours forecast from each origin (default 24, at most 168); step ``s``
  (1-based) is the hour ``o + s - 1``.

Subclasses implement ``_fit``, ``_predict_frame``, ``_save_state`` and ``_load_state``; the base
class handles validation, the weather fallback, and the on-disk layout::

    DIR/model.json        {"kind", "config", "fitted", "versions", "data_hash", ...}
    DIR/climatology.json  weather fallback (city, day of year, hour) learnt from training rows
    DIR/...               the subclass's weights and its fitted feature pipeline
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from energy import schema
from energy.data.dataset import Dataset
from energy.features.climatology import Climatology
from energy.versions import package_versions

MAX_HORIZON = 168
MODEL_FILE = "model.json"
CLIMATOLOGY_FILE = "climatology.json"
# Columns of every prediction frame. ``weather_source``: "supplied" (caller's forecast or actual
# weather in the frame), "climatology" (fallback), or "none" (model uses no weather).
PREDICTION_COLUMNS = ("city_id", "origin", "timestamp", "step", "yhat", "weather_source")


class ModelConfig(BaseModel):
    """Base of every model's hyper-parameters. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    seed: int = 0


@dataclass(frozen=True)
class Capabilities:
    """What a forecaster needs and does; the evaluator and server read these flags."""

    uses_future_weather: bool
    """Needs weather over the horizon (supplied forecast, ex-post actuals, or climatology)."""
    global_model: bool
    """One model across all cities (True) or one per city (False)."""
    min_history_hours: int
    """Hours of load history needed before an origin."""
    supports_unseen_cities: bool = False
    """Can forecast a city absent from training (cold start through static features)."""


@dataclass(frozen=True)
class Param:
    """One dimension of a neutral search space, translated to Ray Tune in energy.distributed."""

    kind: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Forecaster(ABC):
    """Base class. ``__init__`` only stores the config; fitted state ends in ``_``."""

    kind: ClassVar[str]
    Config: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, config: ModelConfig | dict[str, Any] | None = None) -> None:
        self.config = self.Config.model_validate(
            config.model_dump() if isinstance(config, BaseModel) else (config or {})
        )

    # ---- what subclasses provide ----------------------------------------------------------
    @property
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    @classmethod
    def search_space(cls) -> dict[str, Param]:
        """Neutral hyper-parameter space: config field → :class:`Param`. Empty = nothing to tune."""
        return {}

    @abstractmethod
    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        """Learn from ``train``; ``val`` (later in time, or other cities) for early stopping."""

    @abstractmethod
    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        """Forecasts in MW, shape ``(len(origins), horizon)``.

        Args:
            frame: canonical load table covering, for every origin, its history and its
                ``horizon`` forecast hours (weather filled in those hours).
            cities: cities table for the frame's cities.
            origins: ``city_id``, ``origin`` (UTC), one row per forecast. Load at or after an
                origin must not influence that origin's forecast (the contract test checks it).
            horizon: hours per origin.
        """

    @abstractmethod
    def _save_state(self, path: Path) -> None: ...

    @abstractmethod
    def _load_state(self, path: Path) -> None: ...

    # ---- public API -------------------------------------------------------------------------
    def fit(self, train: Dataset, val: Dataset | None = None) -> Self:
        """Fit on ``train`` (validation rows for early stopping); returns ``self``."""
        if train.load[schema.LOAD].notna().sum() == 0:
            raise ValueError("train: no load values to learn from")
        np.random.seed(self.config.seed)
        self.train_cities_ = sorted(train.load[schema.CITY].unique().tolist())
        self.train_end_ = str(train.load[schema.TIME].max())
        self.data_hash_ = str(train.manifest.get("content_hash", ""))
        self.climatology_ = Climatology().fit(train.load, train.cities)
        self._fit(train, val)
        return self

    def predict(
        self,
        history: Dataset,
        horizon: int = 24,
        future_exog: pd.DataFrame | None = None,
        origin: pd.Timestamp | str | None = None,
    ) -> pd.DataFrame:
        """Forecast ``horizon`` hours after each city's history.

        Args:
            history: data up to the origin (later rows are ignored).
            horizon: hours to forecast, 1..168.
            future_exog: ``city_id``, ``timestamp`` and weather columns for the forecast hours (a
                weather forecast). Missing → climatology by city, day of year and hour, and the
                output says ``weather_source="climatology"``.
            origin: first forecast hour (UTC); default: the hour after each city's last load value.

        Returns:
            One row per city and hour: :data:`PREDICTION_COLUMNS`.
        """
        self._check_fitted()
        horizon = check_horizon(horizon)
        load = history.load
        if origin is not None:
            o = schema.utc_time(origin, "origin")
            origins = pd.DataFrame({schema.CITY: sorted(load[schema.CITY].unique()), "origin": o})
        else:
            last = load[load[schema.LOAD].notna()].groupby(schema.CITY)[schema.TIME].max()
            origins = pd.DataFrame({schema.CITY: last.index, "origin": last.to_numpy()})
            origins["origin"] = origins["origin"] + pd.Timedelta(hours=1)
        frame, source = self._forecast_frame(load, history.cities, origins, horizon, future_exog)
        return self.predict_origins(frame, history.cities, origins, horizon, weather_source=source)

    def predict_origins(
        self,
        frame: pd.DataFrame,
        cities: pd.DataFrame,
        origins: pd.DataFrame,
        horizon: int = 24,
        weather_source: str | pd.Series = "supplied",
    ) -> pd.DataFrame:
        """Forecast from many origins at once (backtests): ``frame`` holds actual weather."""
        self._check_fitted()
        horizon = check_horizon(horizon)
        origins = origins[[schema.CITY, "origin"]].reset_index(drop=True)
        yhat = np.asarray(self._predict_frame(frame, cities, origins, horizon), dtype=np.float64)
        if yhat.shape != (len(origins), horizon):
            raise RuntimeError(
                f"{self.kind}: forecast shape {yhat.shape}, expected {(len(origins), horizon)}"
            )
        return long_predictions(origins, yhat, weather_source, self.capabilities)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write config, weights and fitted pipeline to ``path``; :meth:`load` rebuilds from it."""
        self._check_fitted()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": self.kind,
            "config": self.config.model_dump(mode="json"),
            "train_cities": self.train_cities_,
            "train_end": self.train_end_,
            "data_hash": self.data_hash_,
            "versions": package_versions(),
        }
        (p / MODEL_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        self.climatology_.save(p / CLIMATOLOGY_FILE)
        self._save_state(p)
        return p

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Forecaster:
        """Rebuild any saved forecaster from its directory (the kind is read from model.json)."""
        from energy.models.kinds import model_class

        p = Path(path)
        if not (p / MODEL_FILE).is_file():
            raise FileNotFoundError(f"model: {str(p)!r} has no {MODEL_FILE}")
        meta = json.loads((p / MODEL_FILE).read_text())
        model = model_class(meta["kind"])(meta["config"])
        model.train_cities_ = meta["train_cities"]
        model.train_end_ = meta["train_end"]
        model.data_hash_ = meta.get("data_hash", "")
        model.climatology_ = Climatology.load(p / CLIMATOLOGY_FILE)
        model._load_state(p)
        return model

    @property
    def max_horizon(self) -> int:
        """The longest horizon in hours this forecaster can answer (1..:data:`MAX_HORIZON`).

        A model whose load features were fit for a horizon ``H`` (``config.features.horizon``:
        its lags are ``>= H``) cannot look further without reading load after the origin; a
        model built of others (ensemble members, per-city models) answers what all of its parts
        answer. Other models reach :data:`MAX_HORIZON`.
        """
        features = getattr(self.config, "features", None)
        own = int(getattr(features, "horizon", MAX_HORIZON))
        return min([own, MAX_HORIZON, *(p.max_horizon for p in self._parts())])

    def _parts(self) -> list[Forecaster]:
        """Forecasters this one is built of (members, per-city models); none by default."""
        return []

    # ---- helpers ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "train_cities_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load()")

    def _forecast_frame(
        self,
        load: pd.DataFrame,
        cities: pd.DataFrame,
        origins: pd.DataFrame,
        horizon: int,
        future_exog: pd.DataFrame | None,
    ) -> tuple[pd.DataFrame, pd.Series]:
        """History (< origin) plus the horizon rows with weather from the caller or climatology."""
        if origins[schema.CITY].is_unique and not origins.empty:  # a request: one per city
            return self._forecast_frame_unique(load, cities, origins, horizon, future_exog)
        parts, sources = [], []
        weather = [c for c in schema.WEATHER_COLUMNS if c in load.columns]
        ex = None  # the caller's weather, validated once for all cities
        if future_exog is not None and self.capabilities.uses_future_weather and weather:
            ex = schema.validate_load(
                future_exog.assign(**{schema.LOAD: np.nan}), allow_missing_load=True
            )
        for city, o in origins.itertuples(index=False):
            hist = load[(load[schema.CITY] == city) & (load[schema.TIME] < o)]
            hours = pd.date_range(o, periods=horizon, freq="h")
            fut = pd.DataFrame({schema.CITY: city, schema.TIME: hours, schema.LOAD: np.nan})
            src = "none"
            if self.capabilities.uses_future_weather and weather:
                given = None
                if ex is not None:
                    given = ex[ex[schema.CITY] == city].set_index(schema.TIME).reindex(hours)
                if given is not None and given[weather].notna().all().all():
                    fut[weather] = given[weather].to_numpy()
                    src = "supplied"
                else:  # all of the horizon's weather from climatology, never a mix
                    fut[weather] = np.nan
                    tz = cities.set_index("city_id").loc[city, "timezone"]
                    fut = self.climatology_.fill(fut, {city: tz})
                    src = "climatology"
            if schema.HOLIDAY in load.columns:
                fut[schema.HOLIDAY] = pd.array([pd.NA] * horizon, dtype="boolean")
            parts += [hist, fut]
            sources.append(src)
        frame = pd.concat(parts, ignore_index=True)
        return frame, pd.Series(sources, index=origins.index)

    def _forecast_frame_unique(
        self,
        load: pd.DataFrame,
        cities: pd.DataFrame,
        origins: pd.DataFrame,
        horizon: int,
        future_exog: pd.DataFrame | None,
    ) -> tuple[pd.DataFrame, pd.Series]:
        """:meth:`_forecast_frame` when each city has one origin, without a loop over cities:
        the same rows (history first, then every horizon row), the same weather sources."""
        weather = [c for c in schema.WEATHER_COLUMNS if c in load.columns]
        city = origins[schema.CITY].astype(str).to_numpy()
        origin = pd.DatetimeIndex(origins["origin"]).tz_convert("UTC")
        o_hours = utc_hours_of(origin)
        codes = pd.Index(city).get_indexer(load[schema.CITY].astype(str))
        before = (codes >= 0) & (
            utc_hours_of(load[schema.TIME]) < np.where(codes >= 0, o_hours[codes], 0)
        )
        hist = load[before]
        n = len(city)
        hours = origin.repeat(horizon) + pd.to_timedelta(np.tile(np.arange(horizon), n), unit="h")
        fut = pd.DataFrame(
            {schema.CITY: np.repeat(city, horizon), schema.TIME: hours, schema.LOAD: np.nan}
        )
        src = np.full(n, "none", dtype=object)
        if self.capabilities.uses_future_weather and weather:
            vals = np.full((n * horizon, len(weather)), np.nan)
            supplied = np.zeros(n, bool)
            if future_exog is not None:
                ex = schema.validate_load(
                    future_exog.assign(**{schema.LOAD: np.nan}), allow_missing_load=True
                )
                ex = ex.drop_duplicates([schema.CITY, schema.TIME], keep="last")
                key = pd.MultiIndex.from_arrays([fut[schema.CITY], fut[schema.TIME]])
                given = ex.set_index([schema.CITY, schema.TIME]).reindex(key)
                have = [c for c in weather if c in given.columns]
                if len(have) == len(weather):
                    g = given[weather].to_numpy(np.float64, na_value=np.nan)
                    supplied = ~np.isnan(g).reshape(n, horizon, -1).any(axis=(1, 2))
                    vals = np.where(np.repeat(supplied, horizon)[:, None], g, np.nan)
            clim = ~np.repeat(supplied, horizon)  # all of a city's horizon, never a mix
            if clim.any():
                tz = cities.set_index("city_id")["timezone"].to_dict()
                got = self.climatology_.values(fut[schema.CITY].to_numpy()[clim], hours[clim], tz)
                for j, c in enumerate(weather):
                    if c in got:
                        vals[clim, j] = got[c]
            fut[weather] = vals
            src = np.where(supplied, "supplied", "climatology").astype(object)
        if schema.HOLIDAY in load.columns:
            fut[schema.HOLIDAY] = pd.array([pd.NA] * len(fut), dtype="boolean")
        frame = pd.concat([hist, fut], ignore_index=True)
        return frame, pd.Series(src, index=origins.index)


def utc_hours_of(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """``(n,)`` int64 UTC hours since the epoch of tz-aware timestamps."""
    return np.asarray(pd.DatetimeIndex(ts).as_unit("s").asi8 // 3600, dtype=np.int64)


def check_horizon(horizon: int, maximum: int = MAX_HORIZON) -> int:
    """``horizon`` as an int if it is a whole number of hours in ``1..maximum``, else ValueError."""
    ok = isinstance(horizon, (int, np.integer)) and not isinstance(horizon, bool)
    if not ok or not 1 <= int(horizon) <= maximum:
        raise ValueError(
            f"horizon: must be an integer number of hours in 1..{maximum}, got {horizon!r}"
        )
    return int(horizon)


def long_predictions(
    origins: pd.DataFrame, yhat: np.ndarray, weather_source: str | pd.Series, caps: Capabilities
) -> pd.DataFrame:
    """``(n_origins, horizon)`` forecasts → one row per (city, origin, step)."""
    n, h = yhat.shape
    steps = np.tile(np.arange(1, h + 1), n)
    origin = pd.DatetimeIndex(origins["origin"]).repeat(h)  # tz-aware: no object array
    src = (
        weather_source
        if isinstance(weather_source, str)
        else np.repeat(weather_source.to_numpy(), h)
    )
    if not caps.uses_future_weather:
        src = "none"
    return pd.DataFrame(
        {
            "city_id": np.repeat(origins[schema.CITY].to_numpy(), h),
            "origin": origin,
            "timestamp": origin + pd.to_timedelta(steps - 1, unit="h"),
            "step": steps,
            "yhat": yhat.reshape(-1),
            "weather_source": src,
        }
    )
