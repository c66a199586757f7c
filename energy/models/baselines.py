"""Reference forecasters every learnt model has to beat.

* :class:`SeasonalNaive`: repeat the last observed day or week (no weather, any city).
* :class:`VanillaMLR`: Tao Hong's GEFCom2012 benchmark regression, one least-squares fit per city,
  driven by calendar and temperature only (no load lags).

Loads in MW, temperatures in °C, timestamps UTC; calendar terms in each city's local time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from energy import schema
from energy.data.dataset import Dataset
from energy.models._frame import FrameIndex, target_hours, utc_hours
from energy.models.base import Capabilities, Forecaster
from energy.models.configs import SeasonalNaiveConfig, VanillaMLRConfig

NAIVE_FILE = "seasonal_naive.json"
MLR_FILE = "mlr.npz"


class SeasonalNaive(Forecaster):
    """Forecast hour ``t`` with the load at the latest ``t - k·season < origin`` (``k ≥ 1``).

    A masked (NaN) value falls back one more season, as far back as the frame goes; a city with no
    value at any season lag takes its last observed load before the origin, and a city without
    any history its training mean.
    """

    kind = "seasonal_naive"
    Config = SeasonalNaiveConfig
    config: SeasonalNaiveConfig

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            uses_future_weather=False,
            global_model=True,
            min_history_hours=self.config.season_hours,
            supports_unseen_cities=True,
        )

    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        means = train.load.groupby(schema.CITY)[schema.LOAD].mean().dropna()
        self.train_means_ = {str(c): float(v) for c, v in means.items()}

    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        season = self.config.season_hours
        load = frame[schema.LOAD].to_numpy(np.float64, na_value=np.nan)
        index = FrameIndex(frame)
        city = origins[schema.CITY].astype(str).to_numpy()
        hours = target_hours(origins, horizon)  # (n_origins, horizon), UTC hours
        origin_hours = hours[:, 0]
        # smallest k >= 1 with t - k·season < origin, i.e. k·season >= step
        k = (np.arange(horizon) // season + 1)[None, :].repeat(len(origins), axis=0).ravel()
        t, c = hours.ravel(), np.repeat(city, horizon)
        seen = frame[schema.LOAD].notna().to_numpy()
        hour_seen = pd.Series(utc_hours(frame[schema.TIME])[seen])
        oldest = hour_seen.groupby(frame[schema.CITY].astype(str).to_numpy()[seen]).min()
        floor = pd.Series(c).map(oldest).fillna(np.inf).to_numpy()  # no value before it
        out = np.full(t.shape, np.nan)
        todo = np.arange(len(t))  # flat (origin, step) entries still without a value
        while len(todo):
            lag = t[todo] - k[todo] * season
            keep = lag >= floor[todo]
            todo, lag = todo[keep], lag[keep]
            pos = index.positions(c[todo], lag)
            val = np.where(pos >= 0, load[pos], np.nan)
            found = ~np.isnan(val)
            out[todo[found]] = val[found]
            todo = todo[~found]
            k[todo] += 1  # masked or absent: one more season back
        return self._fill_missing(out.reshape(hours.shape), frame, load, city, origin_hours)

    def _fill_missing(
        self, out: np.ndarray, frame: pd.DataFrame, load: np.ndarray, city: np.ndarray,
        origin_hours: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """Rows with no seasonal value: last observed load before the origin, else train mean."""
        rows = np.flatnonzero(np.isnan(out).any(axis=1))
        if len(rows) == 0:
            return out
        pos = FrameIndex(frame, observed_only=True).last_before(city[rows], origin_hours[rows])
        for r, p in zip(rows, pos, strict=True):
            fallback = load[p] if p >= 0 else self.train_means_.get(str(city[r]), np.nan)
            if np.isnan(fallback):
                raise ValueError(f"seasonal_naive: city {city[r]!r} has no load before its origin")
            out[r] = np.where(np.isnan(out[r]), fallback, out[r])
        return out

    def _save_state(self, path: Path) -> None:
        (path / NAIVE_FILE).write_text(json.dumps({"train_means": self.train_means_}) + "\n")

    def _load_state(self, path: Path) -> None:
        self.train_means_ = json.loads((path / NAIVE_FILE).read_text())["train_means"]


# ---- Tao Hong's vanilla benchmark -------------------------------------------------------------
def mlr_design(
    trend: np.ndarray, month: np.ndarray, weekday: np.ndarray, hour: np.ndarray, temp: np.ndarray
) -> np.ndarray:
    """Design matrix of the vanilla benchmark, ``(n_rows, 538)``, reference (treatment) coding.

    Columns: intercept, trend; Month (11: Feb..Dec vs Jan), Hour (23), Month×Hour (11·23);
    Weekday (6: Tue..Sun vs Mon), Weekday×Hour (6·23); T, T², T³; each of T, T², T³ × Month (11)
    and × Hour (23). Hong's original uses Month without the Hour interaction; Month×Hour is added
    here as the project specifies, which nests the original.

    Args:
        trend: hours since the city's first training hour.
        month: local month 1..12.
        weekday: local weekday, Monday = 0.
        hour: local hour 0..23.
        temp: temperature, °C.
    """
    n = len(temp)
    m = np.eye(12)[month - 1][:, 1:]  # (n, 11)
    w = np.eye(7)[weekday][:, 1:]  # (n, 6)
    h = np.eye(24)[hour][:, 1:]  # (n, 23)
    t = np.stack([temp, temp**2, temp**3], axis=1)  # (n, 3)

    def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a[:, :, None] * b[:, None, :]).reshape(n, -1)

    cols = [np.ones((n, 1)), trend[:, None], m, h, cross(m, h), w, cross(w, h), t]
    return np.hstack([*cols, cross(t, m), cross(t, h)])


def mlr_column_names() -> list[str]:
    """Names of the :func:`mlr_design` columns, in order."""
    ms, ws, hs = range(2, 13), range(1, 7), range(1, 24)
    ts = ("T", "T2", "T3")
    names = ["intercept", "trend", *(f"M{m}" for m in ms), *(f"H{h}" for h in hs)]
    names += [f"M{m}xH{h}" for m in ms for h in hs] + [f"W{w}" for w in ws]
    names += [f"W{w}xH{h}" for w in ws for h in hs] + list(ts)
    names += [f"{t}xM{m}" for t in ts for m in ms] + [f"{t}xH{h}" for t in ts for h in hs]
    return names


def _local_calendar(
    city: np.ndarray, hours: np.ndarray, timezones: dict[str, str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local (month 1..12, weekday Mon = 0, hour 0..23) of UTC ``hours`` ``(n,)`` per city."""
    month, weekday, hour = (np.empty(len(hours), np.int64) for _ in range(3))
    for c in np.unique(city):
        sel = city == c
        local = pd.DatetimeIndex(pd.to_datetime(hours[sel] * 3600, unit="s", utc=True))
        local = local.tz_convert(timezones[str(c)])
        month[sel], weekday[sel], hour[sel] = local.month, local.day_of_week, local.hour
    return month, weekday, hour


def _least_squares(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Minimum-norm least squares through the normal equations on unit-norm columns.

    The Gram matrix is ``(p, p)``, so this is ~5x faster than an SVD of ``x`` at GEFCom sizes;
    scaling the columns first keeps it well conditioned (T³ and trend dwarf the 0/1 dummies).
    Columns that are all zero (a month absent from training) get coefficient 0.
    """
    norm = np.linalg.norm(x, axis=0)
    norm[norm == 0] = 1.0
    xs = x / norm
    beta, *_ = np.linalg.lstsq(xs.T @ xs, xs.T @ y, rcond=None)
    return np.asarray(beta / norm)


class VanillaMLR(Forecaster):
    """GEFCom2012 vanilla benchmark: per-city least squares on trend, calendar and temperature.

    ``load ~ Trend + Month×Hour + Weekday×Hour + T + T² + T³ + (T + T² + T³)×(Month + Hour)``,
    Month/Weekday/Hour in the city's local time, Trend in hours since the city's first training
    hour. Needs temperature over the horizon; a missing value there takes the weather climatology.
    """

    kind = "vanilla_mlr"
    Config = VanillaMLRConfig
    config: VanillaMLRConfig

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(uses_future_weather=True, global_model=False, min_history_hours=0)

    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        if schema.TEMP not in train.load:
            raise ValueError(f"vanilla_mlr: the training data has no {schema.TEMP!r} column")
        tz = train.cities.set_index("city_id")["timezone"].astype(str).to_dict()
        coefs, starts = [], []
        for c in self.train_cities_:
            g = train.load[train.load[schema.CITY] == c]
            g = g[g[schema.LOAD].notna() & g[schema.TEMP].notna()]
            if g.empty:
                raise ValueError(f"vanilla_mlr: city {c!r} has no hour with load and temperature")
            hours = utc_hours(g[schema.TIME])
            x = self._design(np.full(len(g), c), hours, hours.min(), g[schema.TEMP], tz)
            coefs.append(_least_squares(x, g[schema.LOAD].to_numpy(np.float64)))
            starts.append(hours.min())
        self.coef_ = np.vstack(coefs)  # (n_cities, 538), MW per unit of each column
        self.start_hour_ = np.asarray(starts, np.int64)  # first training hour per city, UTC

    @staticmethod
    def _design(
        city: np.ndarray, hours: np.ndarray, start: np.ndarray | int, temp: object,
        timezones: dict[str, str],
    ) -> np.ndarray:  # fmt: skip
        month, weekday, hour = _local_calendar(city, hours, timezones)
        t = np.asarray(temp, np.float64)
        return mlr_design((hours - start).astype(np.float64), month, weekday, hour, t)

    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        code = {c: i for i, c in enumerate(self.train_cities_)}
        city = origins[schema.CITY].astype(str).to_numpy()
        unseen = sorted(set(city) - set(code))
        if unseen:
            raise ValueError(f"vanilla_mlr: city {unseen[0]!r} was not in the training data")
        tz = cities.set_index("city_id")["timezone"].astype(str).to_dict()
        hours = target_hours(origins, horizon).reshape(-1)  # origin-major, (n_origins·horizon,)
        rows = np.repeat(city, horizon)
        pos = FrameIndex(frame).positions(rows, hours)
        temp = np.full(len(rows), np.nan)
        if schema.TEMP in frame:
            t = frame[schema.TEMP].to_numpy(np.float64, na_value=np.nan)
            temp = np.where(pos >= 0, t[pos], np.nan)
        for c in np.unique(rows[np.isnan(temp)]):  # a gap in the supplied weather
            sel = (rows == c) & np.isnan(temp)
            utc = pd.DatetimeIndex(pd.to_datetime(hours[sel] * 3600, unit="s", utc=True))
            temp[sel] = self.climatology_.lookup(str(c), utc, tz[c])[schema.TEMP].to_numpy()
        idx = np.array([code[c] for c in rows])
        yhat = np.empty(len(rows))
        for i in np.unique(idx):
            sel = idx == i
            x = self._design(rows[sel], hours[sel], self.start_hour_[i], temp[sel], tz)
            yhat[sel] = x @ self.coef_[i]
        return yhat.reshape(len(origins), horizon)

    def _save_state(self, path: Path) -> None:
        np.savez(
            path / MLR_FILE,
            city_ids=np.asarray(self.train_cities_, dtype=str),
            columns=np.asarray(mlr_column_names(), dtype=str),
            coef=self.coef_,
            start_hour=self.start_hour_,
        )

    def _load_state(self, path: Path) -> None:
        with np.load(path / MLR_FILE, allow_pickle=False) as z:
            if z["city_ids"].tolist() != list(self.train_cities_):
                raise ValueError(f"{path / MLR_FILE}: cities differ from {path / 'model.json'}")
            self.coef_, self.start_hour_ = z["coef"], z["start_hour"]
