"""External peers for the accuracy benchmark, run on exactly the same origins and data.

* statsforecast ``MSTL`` (seasons 24 h and 168 h, load only), refit at every origin on the last
  ``MSTL_INPUT_HOURS`` hours (four weeks: MSTL on years of hourly data is slow).
* mlforecast with LightGBM: one global model over all cities with per-series standard scaling,
  lags 24/48/168/336, rolling mean of lag 24 (24 h and 168 h windows), calendar features in local
  time, temperature and temperature², holiday flag; trained once before the test window, history
  updated at each origin (``new_df``).

Both need gap-free series: masked loads are forward-filled *for the peers only* (our models see the
masks). Optional dependencies: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import pandas as pd

from energy import schema
from energy.data.dataset import Dataset

MSTL_INPUT_HOURS = 24 * 7 * 4
MLF_HISTORY_HOURS = 24 * 21


def _series(data: Dataset) -> pd.DataFrame:
    """Long frame unique_id, ds (UTC, naive), y (ffilled), exog columns in local time."""
    load = data.load.sort_values([schema.CITY, schema.TIME])
    tz = data.cities.set_index("city_id")["timezone"]
    parts = []
    for city, g in load.groupby(schema.CITY, sort=True):
        local = g[schema.TIME].dt.tz_convert(tz[city])
        df = pd.DataFrame(
            {
                "unique_id": city,
                "ds": g[schema.TIME].dt.tz_localize(None).to_numpy(),
                "y": g[schema.LOAD].ffill().bfill().to_numpy(),
                "hour": local.dt.hour.to_numpy(),
                "dow": local.dt.dayofweek.to_numpy(),
                "month": local.dt.month.to_numpy(),
                "holiday": _holidays(g, local, data.cities.set_index("city_id").loc[city]),
            }
        )
        if schema.TEMP in g:
            t = g[schema.TEMP].interpolate(limit_direction="both").to_numpy()
            df["temp"], df["temp2"] = t, t**2
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def _holidays(g: pd.DataFrame, local: pd.Series, city: pd.Series) -> np.ndarray:
    import holidays

    flag = np.zeros(len(g), dtype=np.int8)
    if schema.HOLIDAY in g:
        flag |= g[schema.HOLIDAY].fillna(False).to_numpy(dtype=bool)
    try:
        sub = city["subdivision"].split("-", 1)[1] if city["subdivision"] else None
        cal = holidays.country_holidays(city["country"], subdiv=sub, years=range(1995, 2031))
        flag |= local.dt.date.map(lambda d: d in cal).to_numpy(dtype=bool)
    except NotImplementedError:
        pass
    return flag


def _utc_naive(ts: pd.Series | pd.Timestamp) -> Any:
    return ts.tz_convert("UTC").tz_localize(None)


def mlforecast_lgbm(
    data: Dataset, origins: pd.DataFrame, horizon: int = 24, seed: int = 0
) -> tuple[pd.DataFrame, float, float]:
    """Predictions (city_id, origin, timestamp, yhat) and fit/predict seconds."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.target_transforms import LocalStandardScaler

    df = _series(data)
    start = _utc_naive(origins["origin"].min())
    exog = [c for c in ("hour", "dow", "month", "holiday", "temp", "temp2") if c in df]
    fcst = MLForecast(
        models={"lgbm": lgb.LGBMRegressor(n_estimators=500, learning_rate=0.05, num_leaves=63,
                                          random_state=seed, n_jobs=2, verbose=-1)},
        freq="h",
        lags=[24, 48, 168, 336],
        lag_transforms={24: [RollingMean(window_size=24), RollingMean(window_size=168)]},
        # per-series scaling: zones differ by 300× in size (the usual mlforecast setup)
        target_transforms=[LocalStandardScaler()],
    )  # fmt: skip
    t0 = time.perf_counter()
    fcst.fit(df[df["ds"] < start], static_features=[])
    fit_s = time.perf_counter() - t0
    out, t0 = [], time.perf_counter()
    for o, group in origins.groupby("origin", sort=True):
        o_naive = _utc_naive(pd.Timestamp(o))
        ids = group[schema.CITY].tolist()
        sel = df["unique_id"].isin(ids)
        hist = df[
            sel
            & (df["ds"] < o_naive)
            & (df["ds"] >= o_naive - pd.Timedelta(hours=MLF_HISTORY_HOURS))
        ]
        fut = df[sel & (df["ds"] >= o_naive) & (df["ds"] < o_naive + pd.Timedelta(hours=horizon))]
        pred = fcst.predict(h=horizon, new_df=hist, X_df=fut[["unique_id", "ds", *exog]])
        pred["origin"] = o
        out.append(pred)
    predict_s = time.perf_counter() - t0
    p = pd.concat(out, ignore_index=True)
    return _tidy(p.rename(columns={"lgbm": "yhat"})), fit_s, predict_s


def statsforecast_mstl(
    data: Dataset, origins: pd.DataFrame, horizon: int = 24
) -> tuple[pd.DataFrame, float, float]:
    """MSTL refit at every origin (cross-validation windows ending at each origin)."""
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL

    df = _series(data)[["unique_id", "ds", "y"]]
    out = []
    t0 = time.perf_counter()
    # one cross-validation per set of cities sharing the same origins (same time zone)
    by_city = origins.groupby(schema.CITY)["origin"].apply(lambda s: tuple(sorted(s)))
    for os_, cities in by_city.groupby(by_city):
        os_ = list(os_)
        step = (os_[1] - os_[0]) if len(os_) > 1 else pd.Timedelta(hours=24)
        if any((b - a) != step for a, b in itertools.pairwise(os_)):
            raise ValueError("MSTL peer: origins are not evenly spaced")
        end = _utc_naive(os_[-1]) + pd.Timedelta(hours=horizon)
        s = df[df["unique_id"].isin(cities.index) & (df["ds"] < end)]
        sf = StatsForecast(models=[MSTL(season_length=[24, 168])], freq="h", n_jobs=2)
        cv = sf.cross_validation(
            h=horizon, df=s, n_windows=len(os_), step_size=int(step / pd.Timedelta(hours=1)),
            input_size=MSTL_INPUT_HOURS,
        )  # fmt: skip
        cv["origin"] = (cv["cutoff"] + pd.Timedelta(hours=1)).dt.tz_localize("UTC")
        out.append(cv.rename(columns={"MSTL": "yhat"}))
    total = time.perf_counter() - t0
    return _tidy(pd.concat(out, ignore_index=True)), 0.0, total


def _tidy(p: pd.DataFrame) -> pd.DataFrame:
    p = p.rename(columns={"unique_id": schema.CITY})
    p[schema.TIME] = pd.to_datetime(p["ds"]).dt.tz_localize("UTC")
    p["origin"] = pd.to_datetime(p["origin"], utc=True)
    p["step"] = ((p[schema.TIME] - p["origin"]) / pd.Timedelta(hours=1)).astype(int) + 1
    return p[[schema.CITY, "origin", schema.TIME, "step", "yhat"]]
