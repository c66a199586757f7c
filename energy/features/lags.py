"""Load lags and rolling statistics that respect the forecast horizon, on a padded hourly grid.

Every row of the load table sits at one position of a *padded grid*: each city's hours from its
first to its last timestamp laid out contiguously (gaps become NaN), with a block of NaN padding
before every city. Shifting by ``k`` hours is then one fancy-index into the grid, and a padding at
least as long as the longest look-back keeps every shift and rolling window inside its city.

Horizon rule: for a forecast ``H`` hours ahead the newest load known when predicting hour ``t`` is
at ``t - H``. Lags must be ``>= H`` and rolling windows run over the load shifted by ``H`` hours, so
the features of row ``t`` never read load at a time later than ``t - H``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

ROLLING_STATS: tuple[str, ...] = ("mean", "std", "min", "max")


def min_periods(window: int) -> int:
    """Observed hours a rolling window needs before it reports a value: half the window, ≥ 1.

    (A standard deviation additionally needs two values; pandas returns NaN below that.)
    """
    return max(1, window // 2)


class PaddedGrid:
    """Maps rows (sorted by city, then time) onto a gap-free hourly grid per city.

    Args:
        seg_bounds: ``(n_cities + 1,)`` row offsets of each city's block of sorted rows.
        hours: ``(n_rows,)`` UTC hours since the epoch, increasing within each city.
        pad: NaN hours laid before each city; must be ≥ the longest shift + window used.
    """

    def __init__(self, seg_bounds: np.ndarray, hours: np.ndarray, pad: int) -> None:
        self.pad = int(pad)
        n_seg = len(seg_bounds) - 1
        first = hours[seg_bounds[:-1]] if n_seg else np.zeros(0, np.int64)
        last = hours[seg_bounds[1:] - 1] if n_seg else np.zeros(0, np.int64)
        spans = last - first + 1
        # grid offset of each city's first hour: pads and spans of all earlier cities, plus its pad
        self.city_start = self.pad + np.concatenate([[0], np.cumsum(spans + self.pad)[:-1]])
        self.city_start = self.city_start.astype(np.int64)
        self.city_end = self.city_start + spans  # exclusive
        self.size = int(self.city_end[-1]) if n_seg else 0
        seg_of_row = np.repeat(np.arange(n_seg), np.diff(seg_bounds))
        self.pos = (self.city_start[seg_of_row] + hours - first[seg_of_row]).astype(np.int64)

    def scatter(self, values: np.ndarray) -> np.ndarray:
        """Row values → grid array ``(size,)`` float64, NaN where no row exists."""
        grid = np.full(self.size, np.nan)
        grid[self.pos] = values
        return grid

    def shift(self, grid: np.ndarray, hours: int) -> np.ndarray:
        """The grid value ``hours`` before each row, ``(n_rows,)``; NaN before a city starts."""
        if hours > self.pad:
            raise ValueError(f"shift of {hours} h exceeds the grid padding of {self.pad} h")
        return grid[self.pos - hours]

    def rolling(self, grid: np.ndarray, window: int, stats: Sequence[str], lag: int = 0) -> dict:
        """Rolling statistics over ``[t - lag - window + 1, t - lag]`` for every row.

        All cities are rolled in one pass over the grid: the NaN padding before each city is at
        least ``lag + window`` hours, so no window of a row reaches another city's values (and
        pandas' running sums restart from an empty window there). Returns
        ``{stat: (n_rows,) float64}``.
        """
        if lag + window > self.pad:
            raise ValueError(f"window {window} h at lag {lag} h exceeds the grid padding")
        if self.size == 0:
            return {s: np.zeros(0) for s in stats}
        a, b = int(self.city_start[0]), self.size
        # position i of this series is grid hour a + i - lag: the pad makes early lags NaN
        roll = pd.Series(grid[a - lag : b - lag]).rolling(window, min_periods=min_periods(window))
        out = {}
        for s in stats:
            full = np.full(self.size, np.nan)
            full[a:b] = getattr(roll, s)().to_numpy()
            out[s] = full[self.pos]
        return out


def load_lag_features(
    grid: PaddedGrid,
    load_scaled: np.ndarray,
    *,
    horizon: int,
    lags: Sequence[int],
    windows: Sequence[int],
    stats: Sequence[str] = ROLLING_STATS,
) -> dict[str, np.ndarray]:
    """Lagged load and rolling statistics of the load shifted by ``horizon``.

    Args:
        grid: the padded grid of the rows.
        load_scaled: ``(n_rows,)`` load scaled per city, (MW − mean) / std; NaN where masked.
        horizon: forecast horizon H in hours; every lag must be ≥ H.
        lags: lags in hours.
        windows: rolling window lengths in hours.
        stats: rolling statistics among ``mean, std, min, max``.

    Returns:
        ``{name: (n_rows,) float64}`` named ``load_lag_{k}h`` and ``load_roll_{stat}_{w}h``.
    """
    check_lags(lags, horizon)
    g = grid.scatter(load_scaled)
    out = {f"load_lag_{k}h": grid.shift(g, k) for k in lags}
    for w in windows:
        for s, v in grid.rolling(g, w, stats, lag=horizon).items():
            out[f"load_roll_{s}_{w}h"] = v
    return out


def check_lags(lags: Sequence[int], horizon: int) -> None:
    """Raise ``ValueError`` naming the first lag shorter than the horizon."""
    for k in lags:
        if k < horizon:
            raise ValueError(
                f"load lag {k} h is shorter than the forecast horizon {horizon} h: the load {k} h "
                f"before a target hour is not yet known when forecasting {horizon} h ahead; "
                f"use lags >= {horizon}"
            )


def default_lags(horizon: int) -> tuple[int, ...]:
    """Default load lags for a horizon: H, 2H, one day (when ≥ H), one and two weeks (when ≥ H)."""
    cand = {horizon, 2 * horizon, 24, 168, 336}
    return tuple(sorted(k for k in cand if k >= horizon))
