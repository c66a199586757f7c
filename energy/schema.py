"""Canonical tables: column names, units, time zone, and validation.

This is the one place that defines what data looks like once it is inside the project.

Load table (long format, one row per city and hour):
    city_id        str        city / zone identifier
    timestamp      datetime64 tz-aware **UTC**, hour-beginning (the row covers [t, t+1h))
    load_mw        float64    mean load over the hour, **MW** (= MWh in that hour)
    temperature_c  float64    air temperature, °C (required when weather features are used)
    dewpoint_c     float64    optional, °C
    humidity_pct   float64    optional, relative humidity %
    wind_speed_ms  float64    optional, m/s
    solar_wm2      float64    optional, W/m²
    is_holiday     boolean    optional, a supplied calendar that adds to the computed one

Cleaning adds ``load_raw_mw`` (the value before cleaning) and ``quality`` (why a row changed).

Cities table: ``city_id, name, country (ISO 3166-1 alpha-2), subdivision (ISO 3166-2 or ""),
timezone (IANA), lat, lon, population, area_km2`` plus free-form static attributes in ``attrs``
(a JSON object per city). Unknown values stay empty (NaN / ""), never invented.

Events table: ``city_id`` (or ``*`` for all cities), ``start``/``end`` (tz-aware UTC, end
exclusive), ``name``, ``kind`` and an optional ``direction`` (``up``, ``down`` or empty).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from functools import cache

import numpy as np
import pandas as pd

# ---- column names ---------------------------------------------------------------------------
CITY = "city_id"
TIME = "timestamp"
LOAD = "load_mw"
LOAD_RAW = "load_raw_mw"
QUALITY = "quality"
HOLIDAY = "is_holiday"
TEMP = "temperature_c"
WEATHER_COLUMNS: tuple[str, ...] = (
    "temperature_c",
    "dewpoint_c",
    "humidity_pct",
    "wind_speed_ms",
    "solar_wm2",
)
LOAD_REQUIRED: tuple[str, ...] = (CITY, TIME, LOAD)
LOAD_OPTIONAL: tuple[str, ...] = (*WEATHER_COLUMNS, HOLIDAY, LOAD_RAW, QUALITY)

CITY_COLUMNS: tuple[str, ...] = (
    "city_id",
    "name",
    "country",
    "subdivision",
    "timezone",
    "lat",
    "lon",
    "population",
    "area_km2",
    "attrs",
)
CITY_REQUIRED: tuple[str, ...] = ("city_id", "country", "timezone")

EVENT_COLUMNS: tuple[str, ...] = ("city_id", "start", "end", "name", "kind", "direction")
EVENT_REQUIRED: tuple[str, ...] = ("city_id", "start", "end", "name", "kind")
EVENT_DIRECTIONS = frozenset({"up", "down", ""})
ALL_CITIES = "*"

# Plausible physical ranges; values outside are errors in units, not weather.
_WEATHER_RANGES: dict[str, tuple[float, float]] = {
    "temperature_c": (-80.0, 60.0),
    "dewpoint_c": (-90.0, 40.0),
    "humidity_pct": (0.0, 100.0),
    "wind_speed_ms": (0.0, 120.0),
    "solar_wm2": (0.0, 1500.0),
}


class SchemaError(ValueError):
    """Data does not follow the canonical schema. The message names column, row and value."""


# ---- unit conversion ------------------------------------------------------------------------
def fahrenheit_to_celsius(values: pd.Series | np.ndarray | float) -> pd.Series | np.ndarray | float:
    """°F → °C."""
    return (values - 32.0) * (5.0 / 9.0)


def kw_to_mw(values: pd.Series | np.ndarray | float) -> pd.Series | np.ndarray | float:
    """kW → MW."""
    return values / 1000.0


LOAD_UNITS = {"mw": 1.0, "kw": 1e-3, "w": 1e-6, "gw": 1e3}
TEMPERATURE_UNITS = ("c", "f")


def normalise_units(df: pd.DataFrame, load_unit: str = "mw", temp_unit: str = "c") -> pd.DataFrame:
    """Convert a load table's ``load_mw`` (given in ``load_unit``) and temperature columns
    (given in ``temp_unit``) to MW and °C. Returns a copy."""
    lu, tu = load_unit.lower(), temp_unit.lower()
    if lu not in LOAD_UNITS:
        raise SchemaError(
            f"load unit: unknown unit {load_unit!r} (expected one of {sorted(LOAD_UNITS)})"
        )
    if tu not in TEMPERATURE_UNITS:
        raise SchemaError(f"temperature unit: unknown unit {temp_unit!r} (expected 'c' or 'f')")
    out = df.copy()
    if LOAD in out and lu != "mw":
        out[LOAD] = _to_float(out, LOAD) * LOAD_UNITS[lu]
    if tu == "f":
        for col in ("temperature_c", "dewpoint_c"):
            if col in out:
                out[col] = fahrenheit_to_celsius(_to_float(out, col))
    return out


def _to_float(df: pd.DataFrame, col: str) -> pd.Series:
    """``df[col]`` as float64; text fails with the column, row and value named."""
    num = pd.to_numeric(df[col], errors="coerce")
    bad = num.isna() & df[col].notna()
    if bad.any():
        raise SchemaError(f"column {col!r}, {_first_bad(df, bad, col)}: not a number")
    return num.astype("float64")


# ---- helpers --------------------------------------------------------------------------------
@cache
def _available_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_valid_timezone(name: object) -> bool:
    return isinstance(name, str) and name in _available_zones()


def _first_bad(df: pd.DataFrame, mask: pd.Series | np.ndarray, col: str) -> str:
    """'row 12 (city 'a', 2020-01-01 00:00+00:00): value -3.0' for the first True in mask."""
    idx = np.flatnonzero(np.asarray(mask))
    i = int(idx[0])
    row = df.iloc[i]
    where = f"row {i}"
    if CITY in df.columns and TIME in df.columns:
        where += f" (city {row[CITY]!r}, {row[TIME]})"
    more = f" and {len(idx) - 1} more rows" if len(idx) > 1 else ""
    value = row[col]
    if isinstance(value, np.generic):
        value = value.item()
    return f"{where}: value {value!r}{more}"


def _require(df: pd.DataFrame, columns: Iterable[str], table: str) -> None:
    if df is None or len(df.columns) == 0:
        raise SchemaError(f"{table} table is empty: no columns")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SchemaError(
            f"{table} table: missing required column {missing[0]!r} "
            f"(have: {', '.join(map(str, df.columns))})"
        )


def to_utc(series: pd.Series, column: str, assume_tz: str | None = None) -> pd.Series:
    """Parse ``series`` as timestamps and return tz-aware UTC.

    Naive timestamps are rejected unless ``assume_tz`` (IANA) says which clock they are on.
    Text with different UTC offsets (e.g. either side of a DST change) is accepted.
    """
    if assume_tz is not None and not is_valid_timezone(assume_tz):
        raise SchemaError(
            f"column {column!r}: unknown time zone {assume_tz!r} for naive timestamps "
            "(expected an IANA name like 'America/New_York')"
        )
    s = series
    if not pd.api.types.is_datetime64_any_dtype(s):
        try:
            parsed = pd.to_datetime(s, errors="coerce", utc=False, format="mixed")
        except ValueError:  # pandas refuses mixed offsets unless utc=True
            parsed = _parse_mixed_offsets(s, column)
        bad = parsed.isna() & s.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(
                f"column {column!r}, row {i}: cannot parse {s.iloc[i]!r} as a timestamp"
            )
        s = parsed
    if getattr(s.dt, "tz", None) is None:
        if assume_tz is None:
            raise SchemaError(
                f"column {column!r}: timestamps have no time zone "
                f"(e.g. {s.iloc[0] if len(s) else 'none'!s}); "
                "give them a UTC offset or pass the source time zone"
            )
        try:
            s = s.dt.tz_localize(assume_tz, ambiguous="raise", nonexistent="raise")
        except ValueError as e:  # pytz's AmbiguousTimeError / NonExistentTimeError
            raise SchemaError(_dst_problem(s, column, assume_tz)) from e
    return s.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def utc_time(value: object, name: str) -> pd.Timestamp:
    """One instant (ISO 8601 text, datetime or Timestamp) → tz-aware UTC; naive means UTC.

    The one parser of a single time given by a caller (a forecast start, an origin, a split
    boundary). Raises :class:`SchemaError` naming ``name`` when ``value`` is not a time.
    """
    try:
        t = pd.Timestamp(value)
    except (TypeError, ValueError):
        t = pd.NaT
    if pd.isna(t):
        raise SchemaError(f"{name}: cannot read {value!r} as an ISO 8601 time")
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


_OFFSET = r"(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"


def _parse_mixed_offsets(s: pd.Series, column: str) -> pd.Series:
    """Timestamps with different UTC offsets → UTC; a naive one among them is an error."""
    has_offset = s.astype(str).str.strip().str.contains(_OFFSET, regex=True)
    naive = s.notna() & ~has_offset
    if naive.any():
        i = int(np.flatnonzero(naive.to_numpy())[0])
        raise SchemaError(
            f"column {column!r}, row {i}: {s.iloc[i]!r} has no UTC offset but other rows have "
            "one (give every timestamp an offset)"
        )
    return pd.to_datetime(s, errors="coerce", utc=True, format="mixed")


def _dst_problem(s: pd.Series, column: str, tz: str) -> str:
    """Message for the first naive local time that does not exist or is ambiguous in ``tz``."""
    missing = s.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").isna() & s.notna()
    if not missing.any():
        return f"column {column!r}: cannot place the timestamps on {tz}"
    i = int(np.flatnonzero(missing.to_numpy())[0])
    shifted = s.iloc[[i]].dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    ambiguous = bool(shifted.isna().iloc[0])
    what = "is ambiguous (DST fall-back)" if ambiguous else "does not exist (DST spring-forward)"
    return (
        f"column {column!r}, row {i}: local time {s.iloc[i]} {what} in {tz}; "
        "give the timestamps a UTC offset"
    )


# ---- validation -----------------------------------------------------------------------------
def validate_load(
    df: pd.DataFrame, *, allow_missing_load: bool = True, allow_negative_load: bool = False
) -> pd.DataFrame:
    """Check a load table and return it with canonical dtypes (a copy).

    Args:
        allow_missing_load: NaN loads are kept (a source's missing hours), else an error.
        allow_negative_load: negative loads are kept for cleaning to mask and count (an import:
            one bad row must not fail a whole file), else an error.

    Raises:
        SchemaError: naming column, row and value for the first problem found.
    """
    if df is None or len(df) == 0:
        raise SchemaError("load table is empty: no rows")
    _require(df, LOAD_REQUIRED, "load")
    out = df.copy()
    empty = out[CITY].isna() | (out[CITY].astype(str).str.strip() == "")
    if empty.any():
        raise SchemaError(f"column {CITY!r}, {_first_bad(out, empty, CITY)}: empty city id")
    out[CITY] = out[CITY].astype(str)
    out[TIME] = to_utc(out[TIME], TIME)
    if out[TIME].isna().any():
        raise SchemaError(
            f"column {TIME!r}, {_first_bad(out, out[TIME].isna(), TIME)}: empty timestamp"
        )
    not_hourly = out[TIME].dt.floor("h") != out[TIME]
    if not_hourly.any():
        raise SchemaError(
            f"column {TIME!r}, {_first_bad(out, not_hourly, TIME)}: not on the hour "
            "(hour-beginning hourly data expected; aggregate sub-hourly data first)"
        )

    for col in (LOAD, *WEATHER_COLUMNS, LOAD_RAW):
        if col not in out:
            continue
        num = pd.to_numeric(out[col], errors="coerce")
        bad = num.isna() & out[col].notna()
        if bad.any():
            raise SchemaError(f"column {col!r}, {_first_bad(out, bad, col)}: not a number")
        out[col] = num.astype("float64")
    if not allow_missing_load and out[LOAD].isna().any():
        raise SchemaError(
            f"column {LOAD!r}, {_first_bad(out, out[LOAD].isna(), LOAD)}: missing load"
        )
    neg = out[LOAD] < 0
    if neg.any() and not allow_negative_load:
        raise SchemaError(f"column {LOAD!r}, {_first_bad(out, neg, LOAD)}: negative load")
    for col in (LOAD, *WEATHER_COLUMNS):
        if col in out:
            inf = np.isinf(out[col].to_numpy())
            if inf.any():
                raise SchemaError(f"column {col!r}, {_first_bad(out, inf, col)}: infinite value")
    for col, (lo, hi) in _WEATHER_RANGES.items():
        if col in out:
            bad = (out[col] < lo) | (out[col] > hi)
            if bad.any():
                raise SchemaError(
                    f"column {col!r}, {_first_bad(out, bad, col)}: outside the plausible range "
                    f"[{lo}, {hi}] (wrong unit?)"
                )
    if HOLIDAY in out:
        vals = out[HOLIDAY]
        ok = vals.isna() | vals.isin([True, False, 0, 1])
        if not ok.all():
            raise SchemaError(f"column {HOLIDAY!r}, {_first_bad(out, ~ok, HOLIDAY)}: not a boolean")
        out[HOLIDAY] = vals.astype("boolean")

    dup = out.duplicated([CITY, TIME], keep="first")
    if dup.any():
        raise SchemaError(f"duplicate (city_id, timestamp): {_first_bad(out, dup, TIME)}")
    return out.sort_values([CITY, TIME], kind="stable").reset_index(drop=True)


def validate_cities(df: pd.DataFrame) -> pd.DataFrame:
    """Check a cities table and return it with every canonical column present (a copy)."""
    if df is None or len(df) == 0:
        raise SchemaError("cities table is empty: no rows")
    _require(df, CITY_REQUIRED, "cities")
    out = df.copy().reset_index(drop=True)
    empty = out["city_id"].isna() | (out["city_id"].astype(str).str.strip() == "")
    if empty.any():
        raise SchemaError(
            f"cities table, column 'city_id', {_first_bad(out, empty, 'city_id')}: empty"
        )
    out["city_id"] = out["city_id"].astype(str)
    dup = out.duplicated("city_id")
    if dup.any():
        raise SchemaError(f"cities table: duplicate city_id {_first_bad(out, dup, 'city_id')}")
    for col in ("name", "subdivision"):
        if col not in out:
            out[col] = out["city_id"] if col == "name" else ""
        out[col] = out[col].fillna("").astype(str)
    out["subdivision"] = out["subdivision"].str.strip().str.upper()
    out["country"] = out["country"].fillna("").astype(str).str.upper()
    bad_country = ~out["country"].str.fullmatch(r"[A-Z]{2}")
    if bad_country.any():
        raise SchemaError(
            f"cities table, column 'country', {_first_bad(out, bad_country, 'country')}: "
            "not an ISO 3166-1 alpha-2 code"
        )
    bad_sub = (out["subdivision"] != "") & ~out["subdivision"].str.fullmatch(
        r"[A-Z]{2}-[A-Z0-9]{1,3}"
    )
    if bad_sub.any():
        raise SchemaError(
            f"cities table, column 'subdivision', "
            f"{_first_bad(df.reset_index(drop=True), bad_sub, 'subdivision')}: "
            "not an ISO 3166-2 code like 'US-MA'"
        )
    wrong_country = (out["subdivision"] != "") & (out["subdivision"].str[:2] != out["country"])
    if wrong_country.any():
        raise SchemaError(
            f"cities table, column 'subdivision', {_first_bad(out, wrong_country, 'subdivision')}: "
            "does not belong to the city's country"
        )
    bad_tz = ~out["timezone"].map(is_valid_timezone)
    if bad_tz.any():
        raise SchemaError(
            f"cities table, column 'timezone', {_first_bad(out, bad_tz, 'timezone')}: "
            "unknown IANA time zone"
        )
    for col in ("lat", "lon", "population", "area_km2"):
        if col not in out:
            out[col] = np.nan
        num = pd.to_numeric(out[col], errors="coerce")
        bad = num.isna() & out[col].notna() & (out[col].astype(str) != "")
        if bad.any():
            raise SchemaError(
                f"cities table, column {col!r}, {_first_bad(out, bad, col)}: not a number"
            )
        out[col] = num.astype("float64")
    ranges = {"lat": (-90, 90), "lon": (-180, 180), "population": (0, 1e10), "area_km2": (0, 1e8)}
    for col, (lo, hi) in ranges.items():
        bad = (out[col] < lo) | (out[col] > hi)
        if bad.any():
            raise SchemaError(
                f"cities table, column {col!r}, {_first_bad(out, bad, col)}: out of range"
            )
    if "attrs" not in out:
        out["attrs"] = "{}"
    out["attrs"] = out["attrs"].map(_attrs_json)
    return out[list(CITY_COLUMNS)]


def _attrs_json(value: object) -> str:
    import json

    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "{}"
    if isinstance(value, str) and not value.strip():
        return "{}"
    if isinstance(value, dict):
        try:
            return json.dumps(value, sort_keys=True)
        except (TypeError, ValueError) as e:
            raise SchemaError(
                f"cities table, column 'attrs': not JSON-serialisable: {value!r}"
            ) from e
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as e:
            raise SchemaError(f"cities table, column 'attrs': not a JSON object: {value!r}") from e
        if not isinstance(parsed, dict):
            raise SchemaError(f"cities table, column 'attrs': not a JSON object: {value!r}")
        return json.dumps(parsed, sort_keys=True)
    raise SchemaError(f"cities table, column 'attrs': not a JSON object: {value!r}")


def validate_events(df: pd.DataFrame, city_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Check an events table; ``start``/``end`` become tz-aware UTC (end exclusive)."""
    if df is None or len(df) == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in EVENT_COLUMNS}).assign(
            start=pd.Series(dtype="datetime64[us, UTC]"), end=pd.Series(dtype="datetime64[us, UTC]")
        )
    _require(df, EVENT_REQUIRED, "events")
    out = df.copy().reset_index(drop=True)
    empty = out["city_id"].isna() | (out["city_id"].astype(str).str.strip() == "")
    if empty.any():
        raise SchemaError(
            f"events table, column 'city_id', {_first_bad(out, empty, 'city_id')}: empty"
        )
    out["city_id"] = out["city_id"].astype(str)
    out["start"] = to_utc(out["start"], "start")
    out["end"] = to_utc(out["end"], "end")
    bad = out["end"] <= out["start"]
    if bad.any():
        raise SchemaError(
            f"events table, column 'end', {_first_bad(out, bad, 'end')}: not after 'start'"
        )
    if "direction" not in out:
        out["direction"] = ""
    out["direction"] = out["direction"].fillna("").astype(str).str.lower()
    bad = ~out["direction"].isin(EVENT_DIRECTIONS)
    if bad.any():
        raise SchemaError(
            f"events table, column 'direction', {_first_bad(out, bad, 'direction')}: "
            "expected 'up', 'down' or empty"
        )
    if city_ids is not None:
        known = set(city_ids) | {ALL_CITIES}
        bad = ~out["city_id"].isin(known)
        if bad.any():
            raise SchemaError(
                f"events table, column 'city_id', {_first_bad(out, bad, 'city_id')}: unknown city"
            )
    for col in ("name", "kind"):
        empty = out[col].isna() | (out[col].astype(str).str.strip() == "")
        if empty.any():
            raise SchemaError(f"events table, column {col!r}, {_first_bad(out, empty, col)}: empty")
        out[col] = out[col].astype(str)
    return out[list(EVENT_COLUMNS)]


def check_cities_cover(load: pd.DataFrame, cities: pd.DataFrame) -> None:
    """Every city in the load table must have a row in the cities table."""
    missing = sorted(set(load[CITY].astype(str).unique()) - set(cities["city_id"].astype(str)))
    if missing:
        raise SchemaError(
            f"cities table: no row for city_id {missing[0]!r} found in the load table"
        )
