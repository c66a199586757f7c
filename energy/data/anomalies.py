"""Detectors of suspicious load data: flat lines, outliers, level shifts, duplicated series.

Pure functions on one city's regular hourly series (numpy arrays aligned with a UTC grid, loads
in MW, NaN where absent or already masked) plus its local wall-clock times. They decide nothing:
:mod:`energy.data.cleaning` applies the policies and writes the quality report.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from typing import Any

import numpy as np
import pandas as pd

HOURS_PER_WEEK = 168
_MAD_TO_SIGMA = 1.4826
# Floor of the robust scale of log-load residuals (1 %): keeps noise-free series (synthetic data,
# rounded flat industrial load) from turning tiny deviations into huge z-scores.
_MIN_LOG_SCALE = 0.01
# The local level is the centred median of one day: shorter windows follow holiday and heat-wave
# shapes better but shrink the residual scale so much that the tails get flagged (tried 5-12 h).
_LEVEL_WINDOW_HOURS = 24


def flatline_mask(x: np.ndarray, min_len: int) -> np.ndarray:
    """True for values in runs of at least ``min_len`` identical consecutive (non-NaN) values."""
    if len(x) < min_len:
        return np.zeros(len(x), dtype=bool)
    same = np.r_[False, x[1:] == x[:-1]]  # NaN != NaN, so NaN breaks a run
    group = np.cumsum(~same)
    return (np.bincount(group)[group] >= min_len) & ~np.isnan(x)


def _rolling_median(a: np.ndarray, window: int) -> np.ndarray:
    r = pd.Series(a).rolling(window, center=True, min_periods=max(window // 4, 1)).median()
    return r.to_numpy()


def _lead(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` moved ``k`` places earlier, NaN at the end (also when ``a`` is shorter than ``k``)."""
    out = np.full(len(a), np.nan)
    out[: max(len(a) - k, 0)] = a[k:]
    return out


def outlier_scores(
    x: np.ndarray, local: pd.Series, *, profile_weeks: int = 3, scale_days: int = 56
) -> np.ndarray:
    """Robust z of each hour's log load against its seasonal expectation (NaN where unscored).

    The expectation of an hour is its level plus a daily shape. The shape is the median, over the
    same *local* hour of the week ± ``profile_weeks`` weeks (local, so that a DST change does not
    move the shape by an hour), of the log load minus its centred 24-hour median. The level is
    the 24-hour median ending at the hour, starting at it, or centred on it, whichever fits
    best: a heat wave or a level shift lifts whole days and leaves no residual, even where it
    starts abruptly, while a spike or dip of a few hours stands out against all three. Residuals
    are centred and scaled by a rolling median and MAD (of the centred-level residual) over
    ``scale_days``. Series shorter than two weeks get no score.

    Args:
        x: load (MW), NaN where masked or absent.  # (n_hours,)
        local: local wall-clock time of each hour (naive).  # (n_hours,)
    """
    n, day = len(x), _LEVEL_WINDOW_HOURS
    with np.errstate(divide="ignore", invalid="ignore"):
        lx = np.log(np.where(x > 0, x, np.nan))
    behind = pd.Series(lx).rolling(day, min_periods=day // 2).median().to_numpy()
    ahead, centred = _lead(behind, day - 1), _lead(behind, day // 2)
    dev = lx - centred
    # Local wall-clock hours never decrease along a UTC grid (a fall-back repeats an hour, a
    # spring-forward skips one), so the same local hour k weeks away is a sorted search.
    wall = local.to_numpy("datetime64[h]").astype(np.int64)
    dev_pad = np.r_[dev, np.nan]
    lagged = []
    for k in range(1, profile_weeks + 1):
        for target in (wall - k * HOURS_PER_WEEK, wall + k * HOURS_PER_WEEK):
            j = np.searchsorted(wall, target)
            hit = (j < n) & (wall[np.minimum(j, n - 1)] == target)
            lagged.append(dev_pad[np.where(hit, j, n)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, as intended
        shape = np.nanmedian(np.stack(lagged, axis=1), axis=1)
    window = scale_days * 24
    resid = dev - shape
    centre = _rolling_median(resid, window)
    scale = np.maximum(
        _MAD_TO_SIGMA * _rolling_median(np.abs(resid - centre), window), _MIN_LOG_SCALE
    )
    sided = np.stack([resid, lx - behind - shape, lx - ahead - shape], axis=1) - centre[:, None]
    best = np.argmin(np.where(np.isnan(sided), np.inf, np.abs(sided)), axis=1)
    return np.take_along_axis(sided, best[:, None], axis=1)[:, 0] / scale


def level_shifts(
    x: np.ndarray,
    local: pd.Series,
    city: str,
    *,
    ratio: float = 1.5,
    months: int = 2,
    min_month_hours: int = 336,
) -> list[dict[str, Any]]:
    """Persistent jumps of the monthly median load (local calendar months; months with fewer
    than ``min_month_hours`` valid hours are ignored).

    Month ``i`` starts a shift when the medians of months ``i .. i+months-1`` are all at least
    ``ratio`` times (or at most its inverse) the median of the three months
    before, and seasonality is ruled out: the same months a year earlier are also that far below
    (above) them, or, without a year before, the three baseline months a year later are that far
    above (below) the baseline. Without a year of context on either side nothing is reported, as
    a winter or summer peak cannot be told from a level shift.
    """
    month = (local.dt.year * 12 + local.dt.month - 1).to_numpy()
    s = pd.Series(x).groupby(month).agg(["median", "count"])
    s = s.reindex(np.arange(month[0], month[-1] + 1))
    with np.errstate(divide="ignore"):
        lm = np.log(s["median"].where(s["count"] >= min_month_hours).to_numpy())
    lr, k, found, i = np.log(ratio), months, [], 3
    while i + k <= len(lm):
        base, after = lm[i - 3 : i], lm[i : i + k]
        if np.isfinite(base).sum() < 2 or not np.isfinite(after).all():
            i += 1
            continue
        before = np.nanmedian(base)
        sign = np.sign(after[0] - before)
        year_ago, year_later = lm[max(i - 12, 0) : max(i - 12 + k, 0)], lm[i + 9 : i + 12]
        if len(year_ago) == k and np.isfinite(year_ago).all():
            seasonal_ok = bool(((after - year_ago) * sign >= lr).all())
        elif np.isfinite(year_later).sum() >= 2:
            seasonal_ok = bool((np.nanmedian(year_later) - before) * sign >= lr)
        else:
            seasonal_ok = False
        if not (seasonal_ok and ((after - before) * sign >= lr).all()):
            i += 1
            continue
        last = i + k
        while last < len(lm) and (lm[last] - before) * sign >= lr:  # NaN ends it
            last += 1
        level, at = float(np.exp(np.median(lm[i:last]))), int(s.index[i])
        found.append(
            {
                "city_id": city,
                "at": f"{at // 12:04d}-{at % 12 + 1:02d}",
                "before_median_mw": round(float(np.exp(before)), 6),
                "after_median_mw": round(level, 6),
                "ratio": round(level / float(np.exp(before)), 4),
                "months": last - i,
            }
        )
        i += 3  # the next three-month baseline would still straddle this shift
    return found


def identical_series(
    raw: np.ndarray, inserted: np.ndarray, hours: np.ndarray, bounds: dict[str, tuple[int, int]]
) -> list[list[str]]:
    """Pairs of cities whose raw loads are equal on every common hour with both values present.

    Cheap: exact copies are grouped by a hash of their (hour, value) rows; among the remaining
    representatives only pairs sharing at least a week of identical (hour, value) rows are
    compared.

    Args:
        raw: load before cleaning on the grid (MW).  # (n_rows,)
        inserted: True for grid rows absent from the input.  # (n_rows,)
        hours: grid hour, hours since 1970-01-01 00:00 UTC.  # (n_rows,)
        bounds: each city's (start, stop) row range in the grid.
    """
    keep = ~inserted & ~np.isnan(raw)
    names = list(bounds)
    copies: dict[bytes, list[int]] = {}
    for i, (a, b) in enumerate(bounds.values()):
        k = keep[a:b]
        key = hashlib.sha256(hours[a:b][k].tobytes() + raw[a:b][k].tobytes()).digest()
        copies.setdefault(key, []).append(i)
    found = [
        sorted([names[i], names[j]])
        for g in copies.values()
        for i, j in itertools.combinations(g, 2)
    ]
    first = np.zeros(len(names), dtype=bool)
    first[[g[0] for g in copies.values()]] = True
    city = np.repeat(np.arange(len(names)), [b - a for a, b in bounds.values()])
    rows = keep & first[city]
    d = pd.DataFrame({"c": city[rows], "t": hours[rows], "v": raw[rows]})
    shared = d[d.duplicated(["t", "v"], keep=False)]
    pairs = shared.merge(shared, on=["t", "v"])
    pairs = pairs[pairs["c_x"] < pairs["c_y"]].groupby(["c_x", "c_y"]).size()
    for (i, j), n_equal in pairs[pairs >= HOURS_PER_WEEK].items():
        (a0, a1), (b0, b1) = bounds[names[i]], bounds[names[j]]
        lo, hi = max(hours[a0], hours[b0]), min(hours[a1 - 1], hours[b1 - 1]) + 1
        both = (
            keep[a0 + lo - hours[a0] : a0 + hi - hours[a0]]
            & keep[b0 + lo - hours[b0] : b0 + hi - hours[b0]]
        )
        if n_equal == both.sum():  # copies of i and j are identical to each other too
            group_i = next(g for g in copies.values() if g[0] == i)
            group_j = next(g for g in copies.values() if g[0] == j)
            found += [sorted([names[p], names[q]]) for p in group_i for q in group_j]
    return sorted(found)
