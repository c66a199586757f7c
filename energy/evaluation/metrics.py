"""Forecast accuracy metrics: NaN-aware numpy functions and the per-model / city / step table.

Conventions (loads in MW, percentages in %):

* Rows whose actual is NaN are excluded from every metric and counted (``n_missing_y``); rows with
  a NaN forecast are excluded as well and counted separately (``n_missing_yhat``).
* MAPE excludes rows with ``|y| < eps`` (a zero load makes the percentage infinite) and counts them
  (``n_zero_y``).
* MASE is the M4 definition: the forecast's MAE divided by the in-sample MAE of the seasonal naive
  forecast ``y[t − m]`` on the **training** history of the same city (``m = 168`` h for ``mase``,
  ``24`` h for ``mase24``), so the scale never uses test data.
* In :func:`metrics_table`, the scale-free metrics of a group of cities (``mape``, ``mase``,
  ``mase24``, ``r2``) are the **mean of the per-city values**, so every city counts the same however
  large it is; ``mape_pooled`` (every row counts the same), ``mae`` and ``rmse`` (MW, dominated by
  the largest cities) are pooled over rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from energy import schema

EPS = 1e-6
SEASON = 168
DEFINITIONS = {
    "mape": "mean over cities of each city's MAPE, % (rows with |y| < eps excluded)",
    "mape_pooled": "MAPE over all rows of the group pooled together, %",
    "mae": "mean absolute error over all rows, MW",
    "rmse": "root mean squared error over all rows, MW",
    "r2": "mean over cities of each city's coefficient of determination",
    "mase": "mean over cities of MAE / in-sample MAE of the 168 h seasonal naive on training data",
    "mase24": "as mase with the 24 h seasonal naive",
    "n": "rows scored (actual and forecast both present)",
    "n_missing_y": "rows excluded because the actual is NaN",
    "n_missing_yhat": "rows excluded because the forecast is NaN",
    "n_zero_y": "rows scored but excluded from MAPE because |y| < eps",
}


def _pair(y: Any, yhat: Any) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``(y, yhat)`` where both are finite, as float64 vectors."""
    a = np.asarray(y, dtype=np.float64).ravel()
    f = np.asarray(yhat, dtype=np.float64).ravel()
    if a.shape != f.shape:
        raise ValueError(f"y and yhat: different lengths {a.shape[0]} and {f.shape[0]}")
    ok = np.isfinite(a) & np.isfinite(f)
    return a[ok], f[ok]


def _mean(x: np.ndarray) -> float:
    """NaN-ignoring mean; NaN (no warning) when nothing is left."""
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def mape(y: Any, yhat: Any, eps: float = EPS) -> float:
    """Mean absolute percentage error in %, skipping NaN rows and rows with ``|y| < eps``."""
    a, f = _pair(y, yhat)
    keep = np.abs(a) >= eps
    return _mean(100.0 * np.abs(a[keep] - f[keep]) / np.abs(a[keep]))


def mae(y: Any, yhat: Any) -> float:
    """Mean absolute error, in the unit of ``y`` (MW)."""
    a, f = _pair(y, yhat)
    return _mean(np.abs(a - f))


def rmse(y: Any, yhat: Any) -> float:
    """Root mean squared error, in the unit of ``y`` (MW)."""
    a, f = _pair(y, yhat)
    return float(np.sqrt(_mean((a - f) ** 2)))


def r2(y: Any, yhat: Any) -> float:
    """Coefficient of determination ``1 − SSE / SST``; NaN when ``y`` is constant."""
    a, f = _pair(y, yhat)
    sst = float(((a - a.mean()) ** 2).sum()) if a.size else 0.0
    return 1.0 - float(((a - f) ** 2).sum()) / sst if sst > 0 else float("nan")


def mase(y: Any, yhat: Any, scale: float) -> float:
    """MAE divided by ``scale`` (see :func:`naive_scale`); NaN when the scale is not positive."""
    ok = np.isfinite(scale) and scale > 0
    return mae(y, yhat) / scale if ok else float("nan")


def naive_scale(history: Any, season: int = SEASON) -> float:
    """In-sample MAE of the seasonal naive ``y[t − season]`` on a regular hourly series (MW).

    Pairs with a NaN on either side are skipped; NaN when no pair is left.
    """
    y = np.asarray(history, dtype=np.float64).ravel()
    if season < 1 or y.size <= season:
        return float("nan")
    return _mean(np.abs(y[season:] - y[:-season]))


def naive_scales(load: pd.DataFrame, season: int = SEASON) -> dict[str, float]:
    """:func:`naive_scale` per city of a canonical load table (its training history).

    Each city's series is put on a complete hourly grid first, so a missing row does not pair
    hours ``season`` rows apart instead of ``season`` hours apart.
    """
    out = {}
    for city, g in load.groupby(schema.CITY, sort=True):
        s = pd.Series(g[schema.LOAD].to_numpy(np.float64), index=g[schema.TIME].to_numpy())
        s = s[~s.index.duplicated()].sort_index()
        grid = pd.date_range(s.index.min(), s.index.max(), freq="h")
        out[str(city)] = naive_scale(s.reindex(grid).to_numpy(), season)
    return out


def metrics_table(
    pred: pd.DataFrame,
    scales: Mapping[str, float] | pd.Series,
    scales24: Mapping[str, float] | pd.Series | None = None,
    *,
    name: str = "model",
    eps: float = EPS,
) -> dict[str, Any]:
    """Metrics overall, per city and per horizon step, for ``yhat`` and every ``yhat_<member>``.

    Args:
        pred: ``city_id``, ``step``, ``y`` (MW), ``yhat`` (MW) and optional ``yhat_<member>``.
        scales: 168 h naive scale per city (MW), or per row (a Series aligned with ``pred``, when
            rows come from folds with different training histories).
        scales24: the same for the 24 h naive; ``mase24`` is NaN without it.
        name: key under which ``yhat`` is reported; members keep their own names.

    Returns:
        ``{"definitions": {...}, "models": {model: {"overall": {...}, "per_city": {city: {...}},
        "per_step": {step: {...}}}}}``; see :data:`DEFINITIONS` for each metric.
    """
    missing = {schema.CITY, "step", "y", "yhat"} - set(pred.columns)
    if missing:
        raise ValueError(f"pred: missing column {sorted(missing)[0]!r}")
    cols = {name: "yhat", **{c[5:]: c for c in pred.columns if c.startswith("yhat_")}}
    s168 = _row_scales(pred, scales)
    s24 = _row_scales(pred, scales24)
    models = {}
    for model, col in cols.items():
        rows = _row_errors(pred, col, s168, s24, eps)
        models[model] = {
            "overall": _summary(rows),
            "per_city": {str(c): _summary(g) for c, g in rows.groupby("city", sort=True)},
            "per_step": {int(s): _summary(g) for s, g in rows.groupby("step", sort=True)},
        }
    return {"definitions": DEFINITIONS, "models": models}


def _row_scales(pred: pd.DataFrame, scales: Mapping[str, float] | pd.Series | None) -> np.ndarray:
    if scales is None:
        return np.full(len(pred), np.nan)
    if isinstance(scales, pd.Series) and scales.index.equals(pred.index):
        return scales.to_numpy(np.float64)
    return pred[schema.CITY].map(dict(scales)).to_numpy(np.float64)


def _row_errors(
    pred: pd.DataFrame, col: str, s168: np.ndarray, s24: np.ndarray, eps: float
) -> pd.DataFrame:
    """Per-row error terms of one forecast column; NaN where a row does not count."""
    y = pred["y"].to_numpy(np.float64)
    f = pred[col].to_numpy(np.float64)
    ok = np.isfinite(y) & np.isfinite(f)
    ae = np.where(ok, np.abs(y - f), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.where(ok & (np.abs(y) >= eps), 100.0 * ae / np.abs(y), np.nan)
        sae = np.where(s168 > 0, ae / s168, np.nan)
        sae24 = np.where(s24 > 0, ae / s24, np.nan)
    return pd.DataFrame(
        {
            "city": pred[schema.CITY].to_numpy(),
            "step": pred["step"].to_numpy(),
            "y": np.where(ok, y, np.nan),
            "ae": ae,
            "se": ae**2,
            "ape": ape,
            "sae": sae,
            "sae24": sae24,
            "missing_y": ~np.isfinite(y),
            "missing_f": np.isfinite(y) & ~np.isfinite(f),
            "zero": ok & (np.abs(y) < eps),
        }
    )


def _summary(rows: pd.DataFrame) -> dict[str, float | int]:
    """One group's metrics from its per-row errors (see the module docstring for pooling)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        by_city = rows.groupby("city", sort=False)
        city = by_city[["ape", "se", "sae", "sae24"]].mean()
        var = by_city["y"].var(ddof=0)
    r2_city = 1.0 - city["se"] / var.where(var > 0)
    return {
        "mape": _mean(city["ape"].to_numpy()),
        "mape_pooled": _mean(rows["ape"].to_numpy()),
        "mae": _mean(rows["ae"].to_numpy()),
        "rmse": float(np.sqrt(_mean(rows["se"].to_numpy()))),
        "r2": _mean(r2_city.to_numpy(np.float64)),
        "mase": _mean(city["sae"].to_numpy()),
        "mase24": _mean(city["sae24"].to_numpy()),
        "n": int(rows["ae"].notna().sum()),
        "n_missing_y": int(rows["missing_y"].sum()),
        "n_missing_yhat": int(rows["missing_f"].sum()),
        "n_zero_y": int(rows["zero"].sum()),
    }
