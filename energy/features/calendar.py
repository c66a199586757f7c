"""Calendar features in each city's local time: cyclical hour / weekday / month / day of year,
weekend and daylight-saving flags, plus plain integers for tree models.

Rows arrive as UTC hours; every feature here is computed on the city's *local* wall clock (IANA zone
from the cities table, fixed-offset zones such as ``Etc/GMT+5`` included), so "hour 18" means 6 pm
where the load is consumed, in winter and summer alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

CALENDAR_FEATURES: tuple[str, ...] = (
    "hour",
    "dow",
    "month",
    "hour_sin",
    "hour_cos",
    "dow_sin",
    "dow_cos",
    "month_sin",
    "month_cos",
    "doy_sin",
    "doy_cos",
    "is_weekend",
    "is_dst",
)
DEFAULT_WEEKEND = frozenset({5, 6})  # Saturday, Sunday (Monday = 0)
_MIN_PER_DAY = 1440


@dataclass(frozen=True)
class LocalTime:
    """Local wall-clock time of each row (sorted by city, then time).

    Attributes:
        minutes: ``(n_rows,)`` int64 local wall-clock minutes since 1970-01-01 00:00 (local), i.e.
            UTC minutes plus the UTC offset in force (fractional-hour zones keep their minutes).
        is_dst: ``(n_rows,)`` bool, the offset in force is above the zone's standard offset.
    """

    minutes: np.ndarray
    is_dst: np.ndarray

    @property
    def days(self) -> np.ndarray:
        """``(n_rows,)`` int64 local calendar day, days since 1970-01-01."""
        return self.minutes // _MIN_PER_DAY

    @property
    def dow(self) -> np.ndarray:
        """``(n_rows,)`` local day of week, Monday = 0 (1970-01-01 was a Thursday)."""
        return (self.days + 3) % 7


def local_time(
    hours_utc: np.ndarray, seg_bounds: np.ndarray, timezones: Sequence[str]
) -> LocalTime:
    """Convert UTC hours to local time, one time zone per city block.

    Args:
        hours_utc: ``(n_rows,)`` int64 UTC hours since the epoch, rows sorted by city then time.
        seg_bounds: ``(n_cities + 1,)`` row offsets of each city's block.
        timezones: IANA zone of each city block.
    """
    n = len(hours_utc)
    offset = np.zeros(n, np.int64)  # minutes east of UTC
    is_dst = np.zeros(n, bool)
    zones = np.asarray(timezones, dtype=object)
    block = np.repeat(np.arange(len(zones)), np.diff(seg_bounds))  # (n_rows,) block of each row
    for tz in dict.fromkeys(timezones):  # one conversion per zone, not per city
        rows = np.flatnonzero(np.isin(block, np.flatnonzero(zones == tz)))
        if len(rows) == 0:
            continue
        utc = pd.DatetimeIndex(pd.to_datetime(hours_utc[rows] * 3600, unit="s", utc=True))
        off = _offset_minutes(utc, tz)
        offset[rows] = off
        years = (utc + pd.to_timedelta(off, unit="min")).year.to_numpy()
        uniq, inv = np.unique(years, return_inverse=True)
        is_dst[rows] = off > _standard_offsets(tz, uniq)[inv]
    return LocalTime(minutes=hours_utc * 60 + offset, is_dst=is_dst)


def _offset_minutes(utc: pd.DatetimeIndex, tz: str) -> np.ndarray:
    local = utc.tz_convert(tz).tz_localize(None).as_unit("s")
    return (local.asi8 - utc.tz_localize(None).as_unit("s").asi8) // 60


def _standard_offsets(tz: str, years: np.ndarray) -> np.ndarray:
    """Standard (non-DST) UTC offset in minutes per year: the smaller of 1 January and 1 July.

    Taking the minimum of a winter and a summer date works in both hemispheres and treats
    "negative DST" zones (Europe/Dublin) the intuitive way: summer time is daylight saving.
    """
    return _standard_offsets_cached(tz, tuple(int(y) for y in years))


@lru_cache(maxsize=1024)
def _standard_offsets_cached(tz: str, years: tuple[int, ...]) -> np.ndarray:
    probes = pd.DatetimeIndex(
        [f"{y}-{md}" for y in years for md in ("01-01", "07-01")], tz="UTC"
    ).as_unit("s")
    out = _offset_minutes(probes, tz).reshape(-1, 2).min(axis=1)
    out.setflags(write=False)  # shared through the cache
    return out


def calendar_features(
    lt: LocalTime, seg_bounds: np.ndarray, weekend_days: Sequence[frozenset[int]]
) -> dict[str, np.ndarray]:
    """Calendar features, all ``(n_rows,)`` float64, in local time.

    Args:
        lt: local time of the rows.
        seg_bounds: ``(n_cities + 1,)`` row offsets of each city's block.
        weekend_days: weekend weekdays (Monday = 0) of each city block, from its holiday calendar.

    Returns:
        ``hour`` (0–23), ``dow`` (Monday = 0), ``month`` (1–12) as plain numbers;
        ``*_sin``/``*_cos`` on the unit circle (hour uses the fractional local hour, day of year
        a 365.25-day cycle);
        ``is_weekend`` and ``is_dst`` as 0/1.
    """
    minute_of_day = lt.minutes % _MIN_PER_DAY
    dow = lt.dow
    day = lt.days.astype("datetime64[D]")
    month_idx = day.astype("datetime64[M]").astype(np.int64)
    month = month_idx % 12 + 1
    doy = (day - day.astype("datetime64[Y]")).astype(np.int64)  # 0-based day of year
    weekend = np.zeros(len(dow), bool)
    for i, days in enumerate(weekend_days):
        a, b = int(seg_bounds[i]), int(seg_bounds[i + 1])
        weekend[a:b] = np.isin(dow[a:b], sorted(days))
    two_pi = 2.0 * np.pi
    h = two_pi * minute_of_day / _MIN_PER_DAY
    d = two_pi * dow / 7.0
    m = two_pi * (month - 1) / 12.0
    y = two_pi * doy / 365.25
    return {
        "hour": (minute_of_day // 60).astype(np.float64),
        "dow": dow.astype(np.float64),
        "month": month.astype(np.float64),
        "hour_sin": np.sin(h),
        "hour_cos": np.cos(h),
        "dow_sin": np.sin(d),
        "dow_cos": np.cos(d),
        "month_sin": np.sin(m),
        "month_cos": np.cos(m),
        "doy_sin": np.sin(y),
        "doy_cos": np.cos(y),
        "is_weekend": weekend.astype(np.float64),
        "is_dst": lt.is_dst.astype(np.float64),
    }
