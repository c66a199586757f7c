"""Cleaning: a regular hourly grid per city, short gaps filled, anomalies masked, and a report.

Input is a canonical load table (see :mod:`energy.schema`: ``timestamp`` tz-aware **UTC**,
hour-beginning; ``load_mw`` in **MW**) and the cities table (its IANA ``timezone`` gives the local
clock used for DST days, local dates and calendar months). Output is the same table on a regular
hourly UTC grid per city, from the city's first to its last hour, with every input column plus

* ``load_raw_mw``: the load before cleaning (NaN for hours that were absent), and
* ``quality``: why a row differs from the source (``""`` for untouched rows), one of
  :data:`QUALITY_CODES`.

Rows are never dropped: ``rows_out == rows_in + inserted``. Masked rows keep their raw value in
``load_raw_mw`` and have ``load_mw`` NaN, so they never become training targets. Level shifts and
identical series are only reported; they do not change the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from energy import schema
from energy.data import plausibility
from energy.data.anomalies import flatline_mask, identical_series, level_shifts, outlier_scores
from energy.data.cleaning_config import CleaningConfig
from energy.data.quality import build_report, format_report

__all__ = ["QUALITY_CODES", "CleaningConfig", "clean", "format_report"]

QUALITY_CODES: tuple[str, ...] = (
    "",
    "inserted_gap",  # hour absent from the source; load stays NaN (gap longer than allowed)
    "interpolated",  # hour absent from the source; load linearly interpolated (short gap)
    "missing",  # source row with NaN load; kept masked
    "negative",  # load < 0; masked
    "zero",  # load exactly 0; masked or flagged (zero_policy)
    "flatline",  # part of a run of identical values; masked
    "outlier",  # robust z of the seasonal residual beyond the threshold; per outlier_policy
    "implausible",  # outside the city's plausible load range (energy.data.plausibility); masked
)
_CODE = {name or "ok": i for i, name in enumerate(QUALITY_CODES)}


def clean(
    load: pd.DataFrame, cities: pd.DataFrame, config: CleaningConfig | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Clean a canonical load table.

    Args:
        load: canonical load table: ``city_id``, ``timestamp`` (tz-aware UTC, hour-beginning),
            ``load_mw`` (MW), optional weather columns and ``is_holiday``. Not modified.
        cities: cities table with at least ``city_id`` and ``timezone`` (IANA) for every city.
        config: cleaning options; defaults to ``CleaningConfig()``.

    Returns:
        ``(cleaned, report)``: the cleaned table sorted by (city_id, timestamp), on a regular
        hourly UTC grid per city, with ``load_raw_mw`` and ``quality`` added; and the
        JSON-serialisable quality report (see :func:`energy.data.quality.build_report`).

    Raises:
        SchemaError: missing columns, naive or off-the-hour timestamps, duplicate
            (city_id, timestamp), a city without a time zone, a negative load when
            ``negative_policy="error"``, or an implausible import (a timestamp outside
            ``earliest``/``latest``, a gap over ``max_gap_hours``, a city with more implausible
            loads than ``max_implausible_share``; see :mod:`energy.data.plausibility`).
    """
    cfg = config or CleaningConfig()
    df = _checked_input(load, cities)
    plausibility.check_span(df, cfg)  # before the grid: a typo must not become millions of rows
    tz_of = dict(zip(cities["city_id"].astype(str), cities["timezone"], strict=False))
    out, inserted, bounds = _regular_grid(df)
    n = len(out)
    src = out[schema.LOAD].to_numpy(dtype="float64", na_value=np.nan)
    # Re-cleaning a cleaned table checks its current values but keeps the first raw values.
    raw = (
        out[schema.LOAD_RAW].to_numpy("float64", na_value=np.nan) if schema.LOAD_RAW in df else src
    )
    value = np.full(n, np.nan)
    code = np.zeros(n, dtype=np.int8)
    weather = [c for c in schema.WEATHER_COLUMNS if c in out]
    wx = {c: out[c].to_numpy(dtype="float64", na_value=np.nan, copy=True) for c in weather}
    hol = out[schema.HOLIDAY].astype("boolean") if schema.HOLIDAY in out else None
    stats: dict[str, dict[str, Any]] = {}
    for city, (a, b) in bounds.items():
        sl = slice(a, b)
        local = _local_times(out[schema.TIME].iloc[sl], tz_of[city])
        holiday = np.zeros(b - a, dtype=bool)
        if hol is not None:
            if inserted[sl].any():  # a holiday is a local date: copy it to inserted hours
                same_day = hol.iloc[sl].groupby(local.dt.floor("D").to_numpy()).transform("first")
                hol.iloc[sl] = hol.iloc[sl].where(~inserted[sl], same_day.to_numpy())
            holiday = hol.iloc[sl].fillna(False).to_numpy(dtype=bool)
        bad, plausible = plausibility.implausible_loads(
            src[sl], out[schema.TIME].iloc[sl], city, cfg
        )
        value[sl], code[sl], counts = _clean_city(
            src[sl], inserted[sl], bad, local, holiday, cfg, city
        )
        stats[city] = {
            "rows_in": int((~inserted[sl]).sum()),
            "rows_out": b - a,
            "start": out[schema.TIME].iloc[a].isoformat(),
            "end": out[schema.TIME].iloc[b - 1].isoformat(),
            **counts,
            **plausible,
            "weather": {c: _fill_weather(wx[c][sl], inserted[sl], cfg) for c in weather},
        }
    quality = np.asarray(QUALITY_CODES, dtype=object)[code]
    if schema.QUALITY in df:  # re-cleaning: earlier masks now read as "missing"; keep their reason
        prev = out[schema.QUALITY].astype("object").fillna("").to_numpy()
        keep = (prev != "") & np.isin(quality, ["", "missing"])
        quality = np.where(keep, prev, quality)
    out[schema.LOAD] = value
    for c in weather:
        out[c] = wx[c]
    if hol is not None:
        out[schema.HOLIDAY] = hol
    out[schema.LOAD_RAW] = raw
    out[schema.QUALITY] = pd.Categorical(quality, categories=_categories(quality))
    hours = out[schema.TIME].dt.tz_localize(None).to_numpy("datetime64[h]").astype(np.int64)
    identical = identical_series(raw, inserted, hours, bounds)
    report = build_report(cfg.model_dump(mode="json"), stats, identical, out, inserted)
    return out, report


# ---- input and grid ---------------------------------------------------------------------------
def _checked_input(load: pd.DataFrame, cities: pd.DataFrame) -> pd.DataFrame:
    """A sorted copy of ``load`` with str city ids and float64 load; raises SchemaError."""
    if load is None or len(load) == 0:
        raise schema.SchemaError("load table is empty: no rows")
    missing = [c for c in schema.LOAD_REQUIRED if c not in load.columns]
    if missing:
        raise schema.SchemaError(f"load table: missing required column {missing[0]!r}")
    for col in ("city_id", "timezone"):
        if col not in cities.columns:
            raise schema.SchemaError(f"cities table: missing required column {col!r}")
    df = load.copy()
    df[schema.CITY] = df[schema.CITY].astype(str)
    if not isinstance(df[schema.TIME].dtype, pd.DatetimeTZDtype):
        raise schema.SchemaError(
            f"column {schema.TIME!r}: expected tz-aware UTC timestamps, got {df[schema.TIME].dtype}"
        )
    df[schema.TIME] = df[schema.TIME].dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    num = pd.to_numeric(df[schema.LOAD], errors="coerce")
    text = num.isna() & df[schema.LOAD].notna()
    if text.any():
        i = int(np.flatnonzero(text.to_numpy())[0])
        raise schema.SchemaError(
            f"column 'load_mw', row {i}: {df[schema.LOAD].iloc[i]!r} is not a number"
        )
    df[schema.LOAD] = num.astype("float64")
    schema.check_cities_cover(df, cities.assign(city_id=cities["city_id"].astype(str)))
    tz = cities.set_index(cities["city_id"].astype(str))["timezone"]
    bad_tz = [c for c in df[schema.CITY].unique() if not schema.is_valid_timezone(tz.get(c))]
    if bad_tz:
        raise schema.SchemaError(f"cities table: city {bad_tz[0]!r} has no valid IANA timezone")
    return df.sort_values([schema.CITY, schema.TIME], kind="stable").reset_index(drop=True)


def _regular_grid(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, dict[str, tuple[int, int]]]:
    """Scatter the sorted rows onto a regular hourly UTC grid per city (vectorised).

    Returns:
        The grid table (input columns, absent hours as NaN/NA), a bool mask of inserted rows and
        each city's ``(start, stop)`` row range in the grid.
    """
    seconds = df[schema.TIME].dt.tz_localize(None).to_numpy("datetime64[s]").astype(np.int64)
    off_hour = seconds % 3600 != 0
    if off_hour.any():
        i = int(np.flatnonzero(off_hour)[0])
        raise schema.SchemaError(
            f"column {schema.TIME!r}, row {i}: {df[schema.TIME].iloc[i]} is not on the hour"
        )
    hours = seconds // 3600
    codes, names = pd.factorize(df[schema.CITY], sort=True)
    first = np.r_[True, codes[1:] != codes[:-1]]
    dup = ~first & (np.diff(hours, prepend=hours[0]) == 0)
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise schema.SchemaError(
            f"duplicate (city_id, timestamp): city {df[schema.CITY].iloc[i]!r}, "
            f"{df[schema.TIME].iloc[i]}"
        )
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(df)] - 1
    h0, lengths = hours[starts], hours[ends] - hours[starts] + 1
    offsets = np.r_[0, np.cumsum(lengths)]
    pos = offsets[codes] + hours - h0[codes]
    total = int(offsets[-1])
    grid_city = np.repeat(np.arange(len(names)), lengths)
    grid_hour = h0[grid_city] + np.arange(total) - offsets[grid_city]

    body = df.drop(columns=[schema.CITY, schema.TIME])
    for col in body.columns:  # numpy bool/int cannot hold NA: use nullable / float dtypes
        if pd.api.types.is_bool_dtype(body[col].dtype):
            body[col] = body[col].astype("boolean")
    body.index = pos
    body = body.reindex(np.arange(total))
    inserted = np.ones(total, dtype=bool)
    inserted[pos] = False
    out = pd.DataFrame(
        {
            schema.CITY: pd.array(np.asarray(names, dtype=object)[grid_city], dtype=str),
            schema.TIME: pd.to_datetime(grid_hour * 3600, unit="s", utc=True).astype(
                "datetime64[us, UTC]"
            ),
        }
    )
    out = pd.concat([out, body.reset_index(drop=True)], axis=1)[list(df.columns)]
    bounds = {str(c): (int(offsets[i]), int(offsets[i + 1])) for i, c in enumerate(names)}
    return out, inserted, bounds


def _local_times(utc: pd.Series, tz: str) -> pd.Series:
    """Naive local wall-clock times of UTC timestamps in ``tz``."""
    return utc.dt.tz_convert(tz).dt.tz_localize(None).reset_index(drop=True)


def _categories(quality: np.ndarray) -> list[str]:
    extra = sorted(set(quality.tolist()) - set(QUALITY_CODES))  # codes kept from an earlier pass
    return [*QUALITY_CODES, *extra]


# ---- one city -----------------------------------------------------------------------------
def _clean_city(
    raw: np.ndarray,
    inserted: np.ndarray,
    implausible: np.ndarray,
    local: pd.Series,
    holiday: np.ndarray,
    cfg: CleaningConfig,
    city: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Clean one city's regular hourly series.

    Args:
        raw: load as given (MW), NaN where absent or missing.  # (n_hours,)
        inserted: True where the hour was absent from the source.  # (n_hours,)
        implausible: True where the load is physically implausible (masked).  # (n_hours,)
        local: local wall-clock time of each hour (naive, the city's time zone).  # (n_hours,)
        holiday: True on supplied holidays (``is_holiday``).  # (n_hours,)

    Returns:
        Cleaned load (MW), quality codes (indices into QUALITY_CODES) and per-city counts.
    """
    x = raw.copy()
    code = np.zeros(len(x), dtype=np.int8)
    code[inserted] = _CODE["inserted_gap"]
    code[np.isnan(raw) & ~inserted] = _CODE["missing"]
    neg = raw < 0
    if neg.any() and cfg.negative_policy == "error":
        i = int(np.flatnonzero(neg)[0])
        raise schema.SchemaError(
            f"column 'load_mw', city {city!r}, local {local.iloc[i]}: negative load {raw[i]}"
        )
    zero = raw == 0
    flat = flatline_mask(raw, cfg.flatline_hours)
    for mask, name, masked in (
        (neg, "negative", True),
        (zero, "zero", cfg.zero_policy == "mask"),
        (implausible, "implausible", True),
        (flat, "flatline", True),
    ):
        mask = mask & (code == 0)
        code[mask] = _CODE[name]
        if masked:
            x[mask] = np.nan
    z = outlier_scores(
        np.where(zero, np.nan, x), local, profile_weeks=cfg.profile_weeks, scale_days=cfg.scale_days
    )
    threshold = np.where(holiday, cfg.holiday_threshold_factor, 1.0) * cfg.outlier_threshold
    outlier = (np.abs(z) > threshold) & (code == 0)
    code[outlier] = _CODE["outlier"]
    if cfg.outlier_policy != "flag":
        x[outlier] = np.nan
    levels = level_shifts(
        x,
        local,
        city,
        ratio=cfg.level_shift_ratio,
        months=cfg.level_shift_months,
        min_month_hours=cfg.min_month_hours,
    )

    fillable = inserted | (outlier if cfg.outlier_policy == "interpolate" else False)
    filled = _fill_short_runs(x, fillable, cfg.max_interpolate_hours)
    code[filled & inserted] = _CODE["interpolated"]
    _, gap_len = _runs(inserted)
    dst_days = _dst_days(local) if inserted.any() else np.zeros(len(x), dtype=bool)
    stats = {
        "gaps": {
            "count": len(gap_len),
            "hours": int(inserted.sum()),
            "longest_hours": int(gap_len.max(initial=0)),
            "interpolated_hours": int((filled & inserted).sum()),
            "masked_hours": int((inserted & ~filled).sum()),
        },
        "dst_gaps": int((inserted & dst_days).sum()),
        "missing": int((code == _CODE["missing"]).sum()),
        "zeros": int((code == _CODE["zero"]).sum()),
        "negatives": int((code == _CODE["negative"]).sum()),
        "outliers": int(outlier.sum()),
        "flatline_hours": int((code == _CODE["flatline"]).sum()),
        "interpolated": int(filled.sum()),
        "masked": int(np.isnan(x).sum()),
        "level_shifts": levels,
    }
    return x, code, stats


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the runs of True in a 1-D bool array."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return starts, stops - starts


def _fill_short_runs(x: np.ndarray, fillable: np.ndarray, max_len: int) -> np.ndarray:
    """Linearly interpolate, in place, NaN runs of at most ``max_len`` that lie entirely in
    ``fillable`` and have a valid value on both sides; return the mask of filled positions."""
    filled = np.zeros(len(x), dtype=bool)
    starts, lengths = _runs(np.isnan(x))
    if max_len == 0 or len(starts) == 0:
        return filled
    bounded = (starts > 0) & (starts + lengths < len(x)) & (lengths <= max_len)
    ok = bounded & (_count_in(fillable, starts, lengths) == lengths)
    for s, n in zip(starts[ok], lengths[ok], strict=True):
        filled[s : s + n] = True
    if filled.any():
        valid = ~np.isnan(x)
        idx = np.arange(len(x))
        x[filled] = np.interp(idx[filled], idx[valid], x[valid])
    return filled


def _count_in(mask: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Number of True in ``mask[s:s+n]`` for each (s, n)."""
    c = np.r_[0, np.cumsum(mask, dtype=np.int64)]
    return c[starts + lengths] - c[starts]


def _fill_weather(w: np.ndarray, inserted: np.ndarray, cfg: CleaningConfig) -> dict[str, int]:
    """Interpolate short weather gaps in inserted hours (in place); count what stays NaN."""
    if not inserted.any():
        return {"interpolated": 0, "missing": 0}
    filled = _fill_short_runs(w, inserted, cfg.max_interpolate_hours)
    return {"interpolated": int(filled.sum()), "missing": int((inserted & np.isnan(w)).sum())}


def _dst_days(local: pd.Series) -> np.ndarray:
    """True for hours whose local date has a UTC-offset change (DST transition day)."""
    offset = np.diff(local.to_numpy("datetime64[s]").astype(np.int64), prepend=0) != 3600
    offset[0] = False
    day = local.dt.floor("D").to_numpy()
    change = np.flatnonzero(offset)
    days = np.union1d(day[change], day[np.maximum(change - 1, 0)])
    return np.isin(day, days)
