"""Weather features: temperature response, degree-hours, lags and smoothing, humidity terms.

Weather at a target hour is treated as a *known future covariate*: at training time it is the
observed value, at forecast time a supplied weather forecast. Temperature lags and rolling means are
therefore allowed at any lag (the horizon rule of :mod:`energy.features.lags` is for load only).
Units: °C, relative humidity in %, m/s, W/m²; degree-hours in °C·h per hour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from energy import schema
from energy.features.lags import PaddedGrid


def present_columns(load: pd.DataFrame) -> tuple[str, ...]:
    """Weather columns of the canonical schema that hold at least one value."""
    return tuple(c for c in schema.WEATHER_COLUMNS if c in load and load[c].notna().any())


def relative_humidity(temp_c: np.ndarray, dewpoint_c: np.ndarray) -> np.ndarray:
    """Relative humidity in % from temperature and dew point (Magnus formula), clipped to 0–100."""
    a, b = 17.625, 243.04
    rh = 100.0 * np.exp(a * dewpoint_c / (b + dewpoint_c) - a * temp_c / (b + temp_c))
    return np.clip(rh, 0.0, 100.0)


def thi(temp_c: np.ndarray, rh_pct: np.ndarray) -> np.ndarray:
    """Temperature-humidity (discomfort) index, Thom's formula, °C: 0.8T + RH(T − 14.4) + 46.4."""
    return 0.8 * temp_c + rh_pct / 100.0 * (temp_c - 14.4) + 46.4


def weather_features(
    grid: PaddedGrid,
    values: Mapping[str, np.ndarray],
    calendar: Mapping[str, np.ndarray],
    *,
    hdh_base_c: float = 15.5,
    cdh_base_c: float = 18.3,
    temp_lags: Sequence[int] = (1, 2, 3, 24),
    temp_windows: Sequence[int] = (24, 168),
) -> dict[str, np.ndarray]:
    """Weather features per row, all ``(n_rows,)`` float64, NaN where the weather is missing.

    Args:
        grid: the padded grid of the rows (sorted by city, then time).
        values: the weather columns fitted (names from ``schema.WEATHER_COLUMNS``), ``(n_rows,)``.
        calendar: ``hour_sin``, ``hour_cos``, ``doy_sin``, ``doy_cos`` from the calendar features.
        hdh_base_c: heating degree-hours base, °C: ``hdh = max(base − T, 0)``.
        cdh_base_c: cooling degree-hours base, °C: ``cdh = max(T − base, 0)``.
        temp_lags: temperature lags in hours.
        temp_windows: trailing rolling-mean windows in hours (the current hour included).

    Returns:
        With temperature: ``temperature_c, hdh, cdh, temp_sq, temp_cube, temp_lag_{k}h,
        temp_roll_mean_{w}h, temp_x_hour_sin, temp_x_hour_cos, temp_x_doy_sin, temp_x_doy_cos``;
        then ``dewpoint_c``, ``humidity_pct`` (measured, else derived from the dew point), ``thi``
        (needs temperature and humidity), ``wind_speed_ms``, ``solar_wm2`` when present.
    """
    out: dict[str, np.ndarray] = {}
    t = values.get(schema.TEMP)
    if t is not None:
        out["temperature_c"] = t
        out["hdh"] = np.maximum(hdh_base_c - t, 0.0)
        out["cdh"] = np.maximum(t - cdh_base_c, 0.0)
        out["temp_sq"] = t**2
        out["temp_cube"] = t**3
        g = grid.scatter(t)
        for k in temp_lags:
            out[f"temp_lag_{k}h"] = grid.shift(g, k)
        for w in temp_windows:
            out[f"temp_roll_mean_{w}h"] = grid.rolling(g, w, ("mean",))["mean"]
        for c in ("hour_sin", "hour_cos", "doy_sin", "doy_cos"):
            out[f"temp_x_{c}"] = t * calendar[c]
    dew = values.get("dewpoint_c")
    if dew is not None:
        out["dewpoint_c"] = dew
    rh = values.get("humidity_pct")
    if rh is None and dew is not None and t is not None:
        rh = relative_humidity(t, dew)
    if rh is not None:
        out["humidity_pct"] = rh
        if t is not None:
            out["thi"] = thi(t, rh)
    for c in ("wind_speed_ms", "solar_wm2"):
        if c in values:
            out[c] = values[c]
    return out


def is_weather_feature(name: str) -> bool:
    """Whether a feature name comes from :func:`weather_features` (these get standardised)."""
    fixed = {"temperature_c", "hdh", "cdh", "thi", *schema.WEATHER_COLUMNS}
    return name in fixed or name.startswith("temp_")
