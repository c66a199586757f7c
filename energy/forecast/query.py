"""The forecast query: what a caller asks for, checked once when it is built.

Every caller builds a :class:`ForecastQuery` at its edge (the HTTP request in ``serve_app``, the
MLflow pyfunc's input table through :func:`queries_from_table`, a batch job's arguments) and hands
it to :func:`energy.forecast.forecast`. Building one checks everything that does not depend on the
model: types, the start on the hour, the horizon in ``1..MAX_HORIZON``, the weather and history
tables against the canonical schema. What does depend on the model (known cities, the package's
longest horizon, enough history, weather columns the model uses) is checked by the forecast path.
Failures are :class:`~energy.forecast.errors.ForecastInputError` naming the field and the value.

Times are UTC, hour-beginning; loads in MW; weather in the canonical units (°C, %, m/s, W/m²).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from energy import schema
from energy.forecast.errors import ForecastInputError
from energy.models.base import MAX_HORIZON

DEFAULT_HORIZON = 24


@dataclass(frozen=True, eq=False)
class ForecastQuery:
    """Hourly forecasts for some cities from one start.

    Attributes:
        city_ids: cities to forecast, each once, in the caller's order.
        start: first forecast hour (UTC); None: the hour after each city's last known load
            (stored, or sent in ``history``).
        horizon_hours: hours to forecast from ``start``, 1..168 (a package may answer fewer).
        weather: canonical rows (``city_id``, ``timestamp`` UTC, weather columns) covering every
            forecast hour of a city; cities left out use the model's climatology. None: none sent.
        history: canonical load rows (``city_id``, ``timestamp`` UTC, ``load_mw`` MW, optional
            weather) of recent hours; they replace stored rows at the same hours and extend them.
        members: also return each ensemble member's forecast (``yhat_<member>``).
    """

    city_ids: tuple[str, ...]
    start: pd.Timestamp | None = None
    horizon_hours: int = DEFAULT_HORIZON
    weather: pd.DataFrame | None = None
    history: pd.DataFrame | None = None
    members: bool = False

    def __post_init__(self) -> None:
        cities = _city_ids(self.city_ids)
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "city_ids", cities)
        set_(self, "start", None if self.start is None else parse_start(self.start))
        set_(self, "horizon_hours", _horizon(self.horizon_hours))
        set_(self, "weather", _table(self.weather, "weather", cities, load=False))
        set_(self, "history", _table(self.history, "history", cities, load=True))
        if not isinstance(self.members, (bool, np.bool_)):
            raise ForecastInputError("members", self.members, "must be true or false")
        set_(self, "members", bool(self.members))

    @property
    def cacheable(self) -> bool:
        """True when the answer depends only on (model, cities, start, horizon, members)."""
        return self.weather is None and self.history is None


# pandas' nanosecond range (1677-09-21 .. 2262-04-11), whole hours inside it: a start outside
# cannot be stored with the history's timestamps (it overflowed into a 500 before)
EARLIEST_START = pd.Timestamp.min.ceil("h").tz_localize("UTC")
LATEST_START = pd.Timestamp.max.floor("h").tz_localize("UTC")


def parse_start(value: object) -> pd.Timestamp:
    """A forecast start → UTC hour (nanosecond unit). Naive times are UTC; times off the hour or
    outside :data:`EARLIEST_START` .. :data:`LATEST_START` are an error naming ``start``."""
    try:
        t = schema.utc_time(value, "start")
    except (schema.SchemaError, ValueError, OverflowError, RuntimeError):
        # RuntimeError: pandas' NotImplementedError for a year past 9999 after the UTC shift
        raise ForecastInputError(
            "start", _shown(value), f"cannot read {value!r} as an ISO 8601 time"
        ) from None
    if not EARLIEST_START <= t <= LATEST_START:
        shown = _shown(value)
        raise ForecastInputError(
            "start",
            shown,
            f"{shown} is outside the supported range {EARLIEST_START.isoformat()} .. "
            f"{LATEST_START.isoformat()}",
        )
    t = t.as_unit("ns")
    if t != t.floor("h"):
        raise ForecastInputError(
            "start", _shown(value), f"{value!r} is not on the hour (hour-beginning forecasts)"
        )
    return t


def queries_from_table(table: pd.DataFrame, *, members: bool = False) -> list[ForecastQuery]:
    """A request table (the MLflow pyfunc's input, a batch job's file) → queries, one per shared
    (start, horizon) so that cities asked together are computed together.

    Either of:

    * one row per request: ``city_id``; ``start`` (ISO 8601, UTC when naive; empty or missing =
      the hour after the city's last load); ``horizon_hours`` (default 24);
    * one row per city and forecast hour with a weather forecast: ``city_id``, ``timestamp``
      (UTC) and weather columns; each city's forecast starts at its first row and covers its rows.
    """
    df = pd.DataFrame(table)
    if schema.CITY not in df.columns:
        raise ForecastInputError("city_id", None, "missing column (one row per city to forecast)")
    if schema.TIME in df.columns and df[schema.TIME].notna().any():
        return _hourly_queries(df, members)
    start = df["start"].replace("", None) if "start" in df else pd.Series(None, index=df.index)
    horizon = df["horizon_hours"] if "horizon_hours" in df else pd.Series(np.nan, index=df.index)
    df = df.assign(start=start, horizon_hours=horizon.fillna(DEFAULT_HORIZON))
    out = []
    for (s, h), g in df.groupby(["start", "horizon_hours"], dropna=False, sort=False):
        out.append(
            ForecastQuery(
                tuple(str(c) for c in g[schema.CITY]),
                start=None if pd.isna(s) else s,
                horizon_hours=_whole(h),
                members=members,
            )
        )
    return out


def _hourly_queries(df: pd.DataFrame, members: bool) -> list[ForecastQuery]:
    """Hourly rows with a weather forecast: start and horizon per city from its rows."""
    try:
        df = df.assign(**{schema.TIME: pd.to_datetime(df[schema.TIME], utc=True)})
    except (TypeError, ValueError) as e:
        raise ForecastInputError("timestamp", None, f"cannot read the hours: {e}") from None
    weather = [c for c in schema.WEATHER_COLUMNS if c in df.columns]
    spans = df.groupby(schema.CITY, sort=False)[schema.TIME].agg(["min", "size"])
    out = []
    for (start, n), g in spans.groupby(["min", "size"], sort=False):
        cities = tuple(str(c) for c in g.index)
        rows = df[df[schema.CITY].isin(cities)][[schema.CITY, schema.TIME, *weather]]
        out.append(
            ForecastQuery(
                cities,
                start=start,
                horizon_hours=int(n),
                weather=rows if weather else None,
                members=members,
            )
        )
    return out


# ---- checks -------------------------------------------------------------------------------------
def _city_ids(value: object) -> tuple[str, ...]:
    ids: Iterable[Any] = (value,) if isinstance(value, str) else value  # type: ignore[assignment]
    try:
        cities = tuple(dict.fromkeys(ids))
    except TypeError:
        raise ForecastInputError("city_id", None, f"expected city ids, got {value!r}") from None
    if not cities:
        raise ForecastInputError("city_id", None, "no city given")
    bad = [c for c in cities if not isinstance(c, str) or not c.strip()]
    if bad:
        raise ForecastInputError("city_id", _shown(bad[0]), f"not a city id: {bad[0]!r}")
    return cities


def _horizon(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ForecastInputError(
            "horizon_hours", _shown(value), f"must be an integer in 1..{MAX_HORIZON}, got {value!r}"
        )
    if not 1 <= int(value) <= MAX_HORIZON:
        raise ForecastInputError(
            "horizon_hours", int(value), f"must be in 1..{MAX_HORIZON}, got {int(value)}"
        )
    return int(value)


def _whole(value: object) -> Any:
    """A table's horizon cell (float after a missing value) → int when it is a whole number."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


def _table(
    df: pd.DataFrame | None, field: str, cities: tuple[str, ...], *, load: bool
) -> pd.DataFrame | None:
    """Canonical weather (``load=False``) or history (``load=True``) rows of requested cities."""
    if df is None or len(df) == 0:
        return None
    try:
        if load:
            out = schema.validate_load(df, allow_missing_load=False)
        else:
            out = schema.validate_load(df.assign(**{schema.LOAD: np.nan}), allow_missing_load=True)
            out = out.drop(columns=[schema.LOAD])
    except schema.SchemaError as e:
        raise ForecastInputError(field, None, str(e)) from None
    other = sorted(set(out[schema.CITY]) - set(cities))
    if other:
        raise ForecastInputError(
            field, None, f"city_id {other[0]!r} is not among the requested cities"
        )
    return out


def _shown(value: object) -> Any:
    """A value as an error may carry it: JSON-friendly (times as ISO 8601 text)."""
    if isinstance(value, pd.Timestamp | np.datetime64) or hasattr(value, "isoformat"):
        try:
            return pd.Timestamp(value).isoformat()
        except (ValueError, OverflowError, RuntimeError):  # outside what pandas can print
            return str(value.isoformat()) if hasattr(value, "isoformat") else repr(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)
