"""Train / validation / test splits of a canonical load table: one result type for every kind.

Every splitter returns :class:`Split` objects holding *positional* row indices into the frame it
was given (``df.iloc[split.train]``), so a split can be logged and applied to any table built
row-for-row from the same frame. Three kinds (``energy backtest --scheme`` runs each through
:mod:`energy.evaluation.runner`):

- :func:`out_of_time`: one split at fixed dates.
- :func:`rolling_origin`: K backtest folds (expanding or sliding train window).
- :func:`city_wise`: leave-k-cities-out, for forecasting cities never seen in training.

:func:`subset` applies row indices or a mask to a :class:`~energy.data.dataset.Dataset`, and
:func:`day_ahead_origins` lists the daily forecast origins at each city's local midnight.

Time splits use half-open intervals on ``timestamp`` (UTC, hour-beginning)::

    train [first, train_end)   val [val_start, test_start − gap)   test [test_start, test_end)

with ``train_end = val_start − gap`` (``test_start − gap`` without validation). ``gap_hours`` is
the number of hours left out before validation and before test (24 for a day-ahead forecast made
from yesterday's data), so ``max(train) < min(val) − gap`` and ``max(val) < min(test) − gap``.
Windows are absolute UTC times and apply to all cities at once.

Dates given as strings, dates or naive timestamps are read as **UTC** ("2021-01-01" is
2021-01-01 00:00 UTC, not local midnight); tz-aware ones are converted to UTC.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from energy import schema
from energy.data.dataset import Dataset

HOUR = pd.Timedelta(hours=1)
TimeLike: TypeAlias = str | dt.date | pd.Timestamp  # datetime, Timestamp: dates too


class SplitError(ValueError):
    """A split cannot be made as asked; the message names the argument and its value."""


@dataclass(frozen=True, eq=False)
class Split:
    """One train / validation / test partition of a load table.

    Attributes:
        name: ``"out-of-time"``, ``"fold-0"`` (oldest) … ``"fold-{K-1}"``, ``"cities-0"`` ….
        train, val, test: sorted, disjoint positional row indices (int64, read-only) into the
            frame the split was made from; ``val`` is empty without a validation set.
        train_end: exclusive upper bound of training timestamps (UTC); for city splits the
            ``val_start`` (None without it).
        test_start, test_end: test window ``[test_start, test_end)`` (UTC); None for city splits.
        val_start: first validation timestamp (UTC); None without validation.
        gap_hours: hours left out before validation and before test.
        test_cities: held-out city ids of a city split; empty for time splits.
        n_rows: length of the frame the indices point into.
    """

    name: str
    train: np.ndarray = field(repr=False)
    val: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)
    train_end: pd.Timestamp | None = None
    test_start: pd.Timestamp | None = None
    test_end: pd.Timestamp | None = None
    val_start: pd.Timestamp | None = None
    gap_hours: int = 0
    test_cities: tuple[str, ...] = ()
    n_rows: int = 0

    def __post_init__(self) -> None:
        for part in ("train", "val", "test"):
            arr = np.array(getattr(self, part), dtype=np.int64)  # a private, read-only copy
            arr.setflags(write=False)
            object.__setattr__(self, part, arr)

    @property
    def sizes(self) -> dict[str, int]:
        """Row counts: ``{"train": …, "val": …, "test": …}``."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def frames(self, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(train, val, test) rows of ``df``, the frame the split was made from (index kept)."""
        if len(df) != self.n_rows:
            raise SplitError(f"{self.name}: frame has {len(df)} rows, the split {self.n_rows}")
        return df.iloc[self.train], df.iloc[self.val], df.iloc[self.test]


# ---- helpers -----------------------------------------------------------------------------------
def _utc(value: TimeLike, arg: str) -> pd.Timestamp:
    """:func:`energy.schema.utc_time`, failing as a :class:`SplitError` naming ``arg``."""
    try:
        return schema.utc_time(value, arg)
    except schema.SchemaError as e:
        raise SplitError(str(e)) from None


def _int(value: object, arg: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise SplitError(f"{arg}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _times(df: pd.DataFrame) -> np.ndarray:
    """The timestamp column as int64 nanoseconds since the epoch (UTC), for fast comparisons."""
    if len(df) == 0 or schema.TIME not in df.columns:
        raise SplitError(f"frame has no rows or no {schema.TIME!r} column: nothing to split")
    col = df[schema.TIME]
    if not isinstance(col.dtype, pd.DatetimeTZDtype) or col.isna().any():
        raise SplitError(
            f"column {schema.TIME!r} must be tz-aware UTC without missing values, got "
            f"{col.dtype} (run energy.schema.validate_load first)"
        )
    return col.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").view("int64")


def _span(t: np.ndarray) -> tuple[pd.Timestamp, pd.Timestamp]:
    return pd.Timestamp(t.min(), tz="UTC"), pd.Timestamp(t.max(), tz="UTC")


def _rows(
    t: np.ndarray, lo: pd.Timestamp | None, hi: pd.Timestamp, what: str, name: str
) -> np.ndarray:
    mask = t < hi.value if lo is None else (t >= lo.value) & (t < hi.value)
    if not mask.any():
        start = "the first timestamp" if lo is None else lo
        raise SplitError(f"{name}: no {what} rows in [{start}, {hi})")
    return np.flatnonzero(mask)


def _time_split(
    name: str,
    t: np.ndarray,
    train_start: pd.Timestamp | None,
    val_start: pd.Timestamp | None,
    test_start: pd.Timestamp,
    test_end: pd.Timestamp,
    gap: int,
) -> Split:
    """Rows of train ``[train_start, (val_start or test_start) − gap)``, val ``[val_start,
    test_start − gap)`` (when ``val_start`` is set) and test ``[test_start, test_end)``."""
    train_end = (test_start if val_start is None else val_start) - gap * HOUR
    val_end = test_start - gap * HOUR
    val = np.empty(0, np.int64) if val_start is None else _rows(t, val_start, val_end, "val", name)
    return Split(
        name=name,
        train=_rows(t, train_start, train_end, "train", name),
        val=val,
        test=_rows(t, test_start, test_end, "test", name),
        train_end=train_end,
        test_start=test_start,
        test_end=test_end,
        val_start=val_start,
        gap_hours=gap,
        n_rows=len(t),
    )


# ---- splitters ---------------------------------------------------------------------------------
def out_of_time(
    df: pd.DataFrame,
    *,
    val_start: TimeLike | None = None,
    test_start: TimeLike,
    test_end: TimeLike | None = None,
    gap_hours: int = 0,
) -> Split:
    """One split at fixed dates (naive dates are UTC).

    Args:
        df: canonical load table (any row order).
        val_start: first validation hour; None (or equal to ``test_start``) for no validation.
        test_start: first test hour.
        test_end: exclusive end of the test window; default one hour after the last timestamp.
        gap_hours: hours left out before validation and before test.

    Raises:
        SplitError: dates out of order or outside the data, or an empty train/val/test part.
    """
    t = _times(df)
    gap = _int(gap_hours, "gap_hours", 0)
    first, last = _span(t)
    ts = _utc(test_start, "test_start")
    vs = ts if val_start is None else _utc(val_start, "val_start")
    te = last + HOUR if test_end is None else _utc(test_end, "test_end")
    if vs > ts:
        raise SplitError(f"val_start: {vs} is after test_start {ts}")
    if ts > last:
        raise SplitError(f"test_start: {ts} is after the last timestamp in the data ({last})")
    if te <= ts:
        raise SplitError(f"test_end: {te} is not after test_start {ts}")
    if te <= first:
        raise SplitError(f"test_end: {te} is not after the first timestamp in the data ({first})")
    if ts - gap * HOUR <= vs < ts:
        raise SplitError(f"val_start: {vs} leaves no hours before test_start − gap_hours")
    return _time_split("out-of-time", t, None, vs if vs < ts else None, ts, te, gap)


def rolling_origin(
    df: pd.DataFrame,
    *,
    n_folds: int,
    horizon_hours: int,
    step_hours: int | None = None,
    mode: Literal["expanding", "sliding"] = "expanding",
    train_hours: int | None = None,
    gap_hours: int = 0,
    val_hours: int = 0,
    end: TimeLike | None = None,
) -> list[Split]:
    """K rolling-origin backtest folds, oldest first, the last test window ending at ``end``.

    Fold ``i`` tests on ``[end − (K−1−i)·step − horizon, end − (K−1−i)·step)``. With
    ``val_hours`` > 0 a validation block of that length ends ``gap_hours`` before the test window
    and training ends ``gap_hours`` before it; otherwise training ends ``gap_hours`` before the
    test window. ``expanding`` trains on everything earlier, ``sliding`` on the last
    ``train_hours`` hours only (the same window length in every fold).

    Args:
        df: canonical load table (any row order).
        n_folds: number of folds K.
        horizon_hours: test window length per fold, hours.
        step_hours: hours between consecutive test windows; default ``horizon_hours``.
        mode: ``"expanding"`` or ``"sliding"``.
        train_hours: training window length for ``sliding`` (required there, refused otherwise).
        gap_hours: hours left out before validation and before test.
        val_hours: validation block length, hours; 0 for none.
        end: exclusive end of the last test window (naive = UTC); default one hour after the
            last timestamp, so the last fold tests on the most recent data.

    Raises:
        SplitError: bad arguments, too little data for ``n_folds``, or an empty part of a fold.
    """
    t = _times(df)
    k = _int(n_folds, "n_folds", 1)
    horizon = _int(horizon_hours, "horizon_hours", 1)
    step = horizon if step_hours is None else _int(step_hours, "step_hours", 1)
    gap = _int(gap_hours, "gap_hours", 0)
    val = _int(val_hours, "val_hours", 0)
    if mode not in ("expanding", "sliding"):
        raise SplitError(f"mode: expected 'expanding' or 'sliding', got {mode!r}")
    if mode == "sliding" and train_hours is None:
        raise SplitError("train_hours: required when mode='sliding'")
    if mode == "expanding" and train_hours is not None:
        raise SplitError(f"train_hours: only used when mode='sliding', got {train_hours!r}")
    window = None if train_hours is None else _int(train_hours, "train_hours", 1) * HOUR
    first, last = _span(t)
    stop = last + HOUR if end is None else _utc(end, "end")
    if stop > last + HOUR:
        raise SplitError(f"end: {stop} is after the end of the data ({last + HOUR})")

    test0 = stop - ((k - 1) * step + horizon) * HOUR
    train_end0 = test0 - (gap + (val + gap if val else 0)) * HOUR
    if train_end0 <= first or (window is not None and train_end0 - window < first):
        need = "data before" if window is None else f"{window // HOUR} hours of data before"
        raise SplitError(
            f"too few rows for n_folds={k}: fold-0 needs {need} {train_end0}, "
            f"but the data start at {first}"
        )
    folds = []
    for i in range(k):
        ts = test0 + i * step * HOUR
        vs = ts - (gap + val) * HOUR if val else None
        start = None if window is None else (vs if val else ts) - gap * HOUR - window
        folds.append(_time_split(f"fold-{i}", t, start, vs, ts, ts + horizon * HOUR, gap))
    return folds


def city_wise(
    df: pd.DataFrame,
    *,
    k: int = 1,
    n_splits: int | None = None,
    seed: int = 0,
    cities: list[str] | None = None,
    val_start: TimeLike | None = None,
) -> list[Split]:
    """Leave-k-cities-out splits: held-out cities' rows are test, the other cities' rows train.

    The candidate cities (sorted, then shuffled with ``seed``) are cut into ``ceil(n / k)``
    disjoint groups of ``k`` (``k − 1`` for some when ``k`` does not divide ``n``); split ``i``
    holds out group ``i``. With the default ``n_splits`` every candidate is held out exactly once.

    Args:
        df: canonical load table (any row order).
        k: cities held out per split; fewer than the number of cities in ``df``.
        n_splits: how many of the groups to use, first ones first; default all.
        seed: shuffling seed; the same seed gives the same groups.
        cities: candidates to hold out; default every city in ``df``. Others always train.
        val_start: if given, training cities' rows from this hour on (naive = UTC) become val;
            test keeps every row of the held-out cities.

    Raises:
        SplitError: ``k`` too large, unknown cities, ``n_splits`` out of range, empty parts.
    """
    t = _times(df)
    if schema.CITY not in df.columns:
        raise SplitError(f"frame has no {schema.CITY!r} column")
    codes, names = pd.factorize(df[schema.CITY].astype(str), sort=True)
    k = _int(k, "k", 1)
    if k >= len(names):
        raise SplitError(f"k: {k} leaves no training city (the frame has {len(names)} cities)")
    pool = sorted(names if cities is None else set(cities))
    unknown = sorted(set(pool) - set(names))
    if unknown:
        raise SplitError(f"cities: unknown city_id {unknown[0]!r}")
    if k > len(pool):
        raise SplitError(f"k: {k} is more than the {len(pool)} cities given in `cities`")
    n_groups = math.ceil(len(pool) / k)
    n = n_groups if n_splits is None else _int(n_splits, "n_splits", 1)
    if n > n_groups:
        raise SplitError(f"n_splits: {n} is more than the {n_groups} groups of k={k} cities")
    vs = None if val_start is None else _utc(val_start, "val_start")
    perm = np.random.default_rng(seed).permutation(np.array(pool, dtype=object))
    splits = []
    for i, group in enumerate(np.array_split(perm, n_groups)[:n]):
        held = tuple(sorted(str(c) for c in group))
        is_test = np.isin(codes, names.get_indexer(held))
        is_val = ~is_test & (t >= vs.value) if vs is not None else np.zeros(len(t), bool)
        name = f"cities-{i}"
        if vs is not None and not is_val.any():
            raise SplitError(f"{name}: no val rows from val_start {vs} on")
        if not (~is_test & ~is_val).any():
            raise SplitError(f"{name}: no train rows before val_start {vs}")
        splits.append(
            Split(
                name=name,
                train=np.flatnonzero(~is_test & ~is_val),
                val=np.flatnonzero(is_val),
                test=np.flatnonzero(is_test),
                train_end=vs,
                val_start=vs,
                test_cities=held,
                n_rows=len(t),
            )
        )
    return splits


# ---- applying splits ---------------------------------------------------------------------------
def subset(data: Dataset, mask: Any) -> Dataset:
    """``data`` with the load rows where ``mask`` (boolean array or positional indices) holds;
    cities, events, manifest and quality report kept. The one way to slice a data set by rows."""
    m = np.asarray(mask)
    load = data.load[m] if m.dtype == bool else data.load.iloc[m]
    return Dataset(
        load.reset_index(drop=True), data.cities, data.events, data.manifest, data.quality
    )


def day_ahead_origins(
    load: pd.DataFrame,
    cities: pd.DataFrame,
    start: TimeLike,
    end: TimeLike,
    *,
    horizon: int = 24,
    hour_local: int = 0,
    min_history_hours: int = 0,
) -> pd.DataFrame:
    """One forecast origin per city and day at ``hour_local``:00 local time (``cities`` zones).

    Origins lie in ``[start, end)``. A date or naive time is a wall-clock time in **each city's
    own zone** ("2021-03-01" is local midnight of 1 March in every city); a tz-aware time is an
    instant. An hour skipped by a DST change moves forward, an ambiguous one takes its first
    (summer-time) occurrence, and a zone with a fractional offset is floored to the whole hour
    (00:00 IST is 18:30 UTC → 18:00). Only origins whose ``horizon`` hours are all rows of
    ``load`` without a gap, with ``max(min_history_hours, 1)`` hours of the city's rows before,
    are kept.

    Returns:
        ``city_id``, ``origin`` (UTC, ``load``'s timestamp dtype), sorted by city and origin.
    """
    if not 0 <= hour_local <= 23:
        raise SplitError(f"hour_local: must be 0..23, got {hour_local!r}")
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    zones = cities.set_index("city_id")["timezone"]
    parts = [pd.DataFrame({schema.CITY: pd.Series(dtype=str), "origin": pd.DatetimeIndex([])})]
    for city, ts in load.groupby(schema.CITY, sort=True)[schema.TIME]:
        tz = str(zones[city])
        lo_w = lo if lo.tzinfo is None else lo.tz_convert(tz).tz_localize(None)
        hi_w = hi if hi.tzinfo is None else hi.tz_convert(tz).tz_localize(None)
        days = pd.date_range(lo_w.normalize() - pd.Timedelta(days=1), hi_w.normalize(), freq="D")
        wall = days + pd.Timedelta(hours=hour_local)
        utc = wall.tz_localize(tz, ambiguous=np.ones(len(wall), bool), nonexistent="shift_forward")
        utc = utc.tz_convert("UTC").floor("h")
        keep = np.asarray(utc >= lo if lo.tzinfo else wall >= lo_w)
        keep &= np.asarray(utc < hi if hi.tzinfo else wall < hi_w)
        o = utc[keep].as_unit("ns").asi8
        t = np.sort(pd.DatetimeIndex(ts).as_unit("ns").asi8)
        if not len(t):
            continue
        pos = np.searchsorted(t, o)
        at, last = np.minimum(pos, len(t) - 1), np.minimum(pos + horizon - 1, len(t) - 1)
        full = (t[at] == o) & (pos + horizon - 1 < len(t))
        full &= t[last] - o == (horizon - 1) * HOUR.value  # no gap inside the horizon
        full &= o - t[0] >= max(min_history_hours, 1) * HOUR.value
        parts.append(pd.DataFrame({schema.CITY: str(city), "origin": pd.DatetimeIndex(o[full])}))
    out = pd.concat(parts, ignore_index=True)
    out["origin"] = pd.to_datetime(out["origin"], utc=True).astype(load[schema.TIME].dtype)
    return out.sort_values([schema.CITY, "origin"], ignore_index=True)
