"""Weather climatology: the fallback when no weather forecast is supplied.

For each city and weather column, the mean over the training rows by local day of year (1..366)
and local hour (0..23), smoothed over ±7 days (circularly) so that a few years of data give a
stable profile. Units are those of the canonical columns (°C, %, m/s, W/m²).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd

from energy import schema

SMOOTH_DAYS = 7


class Climatology:
    """Mean weather by (city, local day of year, local hour), fit on training rows only."""

    def __init__(self, smooth_days: int = SMOOTH_DAYS) -> None:
        self.smooth_days = smooth_days

    def fit(self, load: pd.DataFrame, cities: pd.DataFrame) -> Self:
        tz = cities.set_index("city_id")["timezone"].to_dict()
        self.columns_ = [c for c in schema.WEATHER_COLUMNS if c in load.columns]
        self.tables_: dict[str, dict[str, np.ndarray]] = {}
        for city, g in load.groupby(schema.CITY, sort=True):
            local = g[schema.TIME].dt.tz_convert(tz[city])
            doy = local.dt.day_of_year.to_numpy() - 1
            hour = local.dt.hour.to_numpy()
            self.tables_[str(city)] = {
                c: self._table(doy, hour, g[c].to_numpy(np.float64)) for c in self.columns_
            }
        return self

    def _table(self, doy: np.ndarray, hour: np.ndarray, v: np.ndarray) -> np.ndarray:
        ok = np.isfinite(v)
        s = np.zeros((366, 24))
        n = np.zeros((366, 24))
        np.add.at(s, (doy[ok], hour[ok]), v[ok])
        np.add.at(n, (doy[ok], hour[ok]), 1.0)
        k = self.smooth_days
        # circular ±k-day window: pad, cumulative sums, difference
        sp = np.concatenate([s[-k:], s, s[:k]]).cumsum(axis=0)
        npd = np.concatenate([n[-k:], n, n[:k]]).cumsum(axis=0)
        w = 2 * k + 1
        ssum = sp[w - 1 :] - np.vstack([np.zeros((1, 24)), sp[:-w]])
        nsum = npd[w - 1 :] - np.vstack([np.zeros((1, 24)), npd[:-w]])
        with np.errstate(invalid="ignore", divide="ignore"):
            table = ssum / nsum
        if np.isnan(table).any():  # days never seen even after smoothing: the hour's overall mean
            by_hour = np.nansum(s, axis=0) / np.maximum(n.sum(axis=0), 1)
            table = np.where(np.isnan(table), by_hour[None, :], table)
        # rounded here, not only in save(), so that a saved and reloaded model forecasts the same
        return np.round(table, 3)

    def lookup(self, city_id: str, hours: pd.DatetimeIndex, timezone: str) -> pd.DataFrame:
        """Climatological weather at UTC ``hours`` for one city (unseen city: mean of all)."""
        local = hours.tz_convert(timezone)
        doy, hour = local.day_of_year.to_numpy() - 1, local.hour.to_numpy()
        out = {}
        for c in self.columns_:
            if city_id in self.tables_:
                table = self.tables_[city_id][c]
            else:
                table = np.nanmean(np.stack([t[c] for t in self.tables_.values()]), axis=0)
            out[c] = table[doy, hour]
        return pd.DataFrame(out, index=hours)

    def values(
        self, city_ids: np.ndarray, hours: pd.DatetimeIndex, timezones: Mapping[str, str]
    ) -> dict[str, np.ndarray]:
        """Climatological weather for many (city, UTC hour) pairs at once (unseen city: the
        mean of all), as :meth:`lookup` gives it one city at a time.

        Args:
            city_ids: ``(n,)`` city of each value.
            hours: ``(n,)`` UTC hours.
            timezones: city id → IANA zone of every city in ``city_ids``.

        Returns:
            weather column → ``(n,)`` float64.
        """
        ids = np.asarray(city_ids).astype(str)
        uniq, inv = np.unique(ids, return_inverse=True)
        doy = np.empty(len(ids), np.int64)
        hour = np.empty(len(ids), np.int64)
        zone = np.array([timezones[c] for c in uniq], dtype=object)[inv]
        for tz in pd.unique(zone):  # one conversion per zone
            rows = np.flatnonzero(zone == tz)
            local = hours[rows].tz_convert(tz)
            doy[rows], hour[rows] = local.day_of_year.to_numpy() - 1, local.hour.to_numpy()
        out = {c: np.empty(len(ids)) for c in self.columns_}
        for k, city in enumerate(uniq):  # numpy gathers only; one city's table, one city's rows
            rows = np.flatnonzero(inv == k)
            for c in self.columns_:
                table = self._table_of(str(city), c)
                out[c][rows] = table[doy[rows], hour[rows]]
        return out

    def _table_of(self, city_id: str, column: str) -> np.ndarray:
        """A city's ``(366, 24)`` table of a column; an unseen city: the mean of all (cached)."""
        if city_id in self.tables_:
            return self.tables_[city_id][column]
        cache = self.__dict__.setdefault("_mean_tables", {})
        if column not in cache:
            cache[column] = np.nanmean(np.stack([t[column] for t in self.tables_.values()]), 0)
        return cache[column]

    def fill(self, frame: pd.DataFrame, timezones: Mapping[str, str]) -> pd.DataFrame:
        """``frame`` with each missing (NaN) weather value taken from climatology.

        The one place where climatology stands in for weather: the hours to forecast without a
        supplied forecast, the weather columns a caller left out, and hours a caller added to the
        history without weather.

        Args:
            frame: canonical load rows (``city_id``, ``timestamp`` UTC, weather columns).
            timezones: city id → IANA zone of every city with a missing value (local day of year
                and hour index the climatology).

        Returns:
            A copy of ``frame``; values that were present are kept, columns the climatology
            does not know stay NaN.
        """
        cols = [c for c in schema.WEATHER_COLUMNS if c in frame.columns]
        out = frame.copy()
        if not cols:
            return out
        missing = out[cols].isna().any(axis=1).to_numpy()
        if not missing.any():
            return out
        city = out[schema.CITY].to_numpy()
        for c in pd.unique(city[missing]):
            rows = missing & (city == c)
            clim = self.lookup(str(c), pd.DatetimeIndex(out.loc[rows, schema.TIME]), timezones[c])
            for col in cols:
                have = out.loc[rows, col].to_numpy(dtype=np.float64, na_value=np.nan)
                fallback = clim[col].to_numpy() if col in clim else np.full(len(have), np.nan)
                out.loc[rows, col] = np.where(np.isnan(have), fallback, have)
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        payload = {
            "smooth_days": self.smooth_days,
            "columns": self.columns_,
            "tables": {
                city: {c: t.tolist() for c, t in cols.items()}
                for city, cols in self.tables_.items()
            },
        }
        Path(path).write_text(json.dumps(payload))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Climatology:
        payload = json.loads(Path(path).read_text())
        clim = cls(payload["smooth_days"])
        clim.columns_ = payload["columns"]
        clim.tables_ = {
            city: {c: np.asarray(t, dtype=np.float64) for c, t in cols.items()}
            for city, cols in payload["tables"].items()
        }
        return clim
