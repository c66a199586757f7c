"""Vectorised look-ups into a canonical load frame by (city, UTC hour).

Models that read a frame row by row for many origins at once (the baselines, XGBoost) locate the
rows of every (origin, step) here with one ``searchsorted`` instead of a join per origin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy import schema
from energy.features.shared import memo

# key = city code << 40 | (UTC hour + 2**39): hours since 1970 fit in ±2**39 with room to spare
_SHIFT, _OFFSET = 40, 1 << 39


def utc_hours(ts: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """``(n,)`` int64 UTC hours since the epoch (timestamps must be tz-aware and on the hour)."""
    idx = pd.DatetimeIndex(ts)
    if idx.tz is None:
        raise ValueError("timestamps must be tz-aware (UTC)")
    return np.asarray(idx.tz_convert("UTC").as_unit("s").asi8 // 3600, dtype=np.int64)


class FrameIndex:
    """Row positions of a load frame keyed by (city, UTC hour).

    Args:
        frame: canonical load table; (city_id, timestamp) must be unique.
        observed_only: index only rows whose ``load_mw`` is not NaN (for "last value" look-ups).
    """

    def __init__(self, frame: pd.DataFrame, observed_only: bool = False) -> None:
        rows = np.arange(len(frame))
        if observed_only:
            rows = rows[frame[schema.LOAD].notna().to_numpy()]
        codes, uniq = pd.factorize(frame[schema.CITY].astype(str).to_numpy()[rows], sort=True)
        self._code = {str(c): i for i, c in enumerate(uniq)}
        keys = self._key(codes, utc_hours(frame[schema.TIME])[rows])
        order = np.argsort(keys, kind="stable")
        self._keys, self._rows = keys[order], rows[order]
        if len(self._keys) > 1 and (np.diff(self._keys) == 0).any():
            raise ValueError("frame: duplicate (city_id, timestamp) rows")

    @staticmethod
    def _key(codes: np.ndarray, hours: np.ndarray) -> np.ndarray:
        return (codes.astype(np.int64) << _SHIFT) + (hours + _OFFSET)

    def _codes(self, city_ids: np.ndarray) -> np.ndarray:
        """City code per query; -1 for a city absent from the frame."""
        uniq, inv = np.unique(np.asarray(city_ids, dtype=str), return_inverse=True)
        return np.array([self._code.get(str(c), -1) for c in uniq], np.int64)[inv]

    def positions(self, city_ids: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Row position (``iloc``) of each (city, hour), -1 where the frame has no such row.

        Args:
            city_ids: ``(n,)`` or broadcastable to ``hours``.
            hours: any shape, UTC hours since the epoch.
        """
        hours = np.asarray(hours, np.int64)
        codes = np.broadcast_to(
            self._codes(np.ravel(city_ids)).reshape(np.shape(city_ids)), hours.shape
        )
        if len(self._keys) == 0:
            return np.full(hours.shape, -1, np.int64)
        key = self._key(codes, hours)
        i = np.searchsorted(self._keys, key).clip(0, len(self._keys) - 1)
        return np.where((codes >= 0) & (self._keys[i] == key), self._rows[i], -1)

    def last_before(self, city_ids: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Position of the city's latest indexed row strictly before each hour (-1 if none)."""
        hours = np.asarray(hours, np.int64)
        codes = self._codes(city_ids)
        if len(self._keys) == 0:
            return np.full(hours.shape, -1, np.int64)
        i = (np.searchsorted(self._keys, self._key(codes, hours)) - 1).clip(-1)
        same_city = (self._keys[i.clip(0)] >> _SHIFT) == codes
        return np.where((codes >= 0) & (i >= 0) & same_city, self._rows[i.clip(0)], -1)


def frame_index(frame: pd.DataFrame) -> FrameIndex:
    """``FrameIndex(frame)``, built once per frame within a request (the members of an
    ensemble look up the same frame; :mod:`energy.features.shared`)."""
    return memo(frame, ("frame_index",), lambda: FrameIndex(frame))


def target_hours(origins: pd.DataFrame, horizon: int) -> np.ndarray:
    """``(n_origins, horizon)`` UTC hours of the forecast steps: ``origin + s - 1``."""
    return utc_hours(origins["origin"])[:, None] + np.arange(horizon)[None, :]
