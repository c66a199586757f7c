"""Rolling accuracy of served forecasts against actuals, next to the version's backtest band.

Inputs are the store's scored rows (:meth:`Store.scored`: one row per served forecast hour with its
actual ``y`` in MW, NaN until it arrives). Windows are in hours of target time ending at ``now``.

Band: what a model version's backtest promised, per city (or ``"*"`` for all cities):
``center`` (typical) and ``upper`` (the edge of normal) of the monitored metric over a rolling
window of the same length. :func:`band_from_backtest` derives it from backtest predictions;
:func:`band_from_registry` from the registry record's MAPE (``upper = MAPE × band_factor``).

Degradation: a city's rolling error stays above its version's ``upper`` for ``sustain_h``
consecutive target hours (:func:`degradations`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from energy.evaluation import metrics as m
from energy.monitoring.config import AccuracyConfig

ALL = "*"
METRICS = {"mape": m.mape, "mae": m.mae, "rmse": m.rmse, "r2": m.r2}


def bucket_labels(steps: pd.Series, edges: Sequence[int]) -> pd.Series:
    """Horizon step (1 = first hour) → bucket label ``"1-6"``, ``"7-12"``, ..., ``">168"``."""
    lows = [1, *[e + 1 for e in edges[:-1]]]
    labels = [f"{lo}-{hi}" for lo, hi in zip(lows, edges, strict=True)]
    cut = pd.cut(steps, bins=[0, *edges, np.inf], labels=[*labels, f">{edges[-1]}"], right=True)
    return cut.astype(str)


def rolling_accuracy(
    scored: pd.DataFrame,
    now: Any,
    cfg: AccuracyConfig,
    bands: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """MAPE/MAE/RMSE/R² per window × (city or ``*``) × model version × horizon bucket (or ``all``).

    Returns:
        Long table: ``window_h, city_id, model_version, bucket, metric, value, n, band_upper``
        (``band_upper`` on the band's metric rows when the version has a band).
    """
    cols = ["window_h", "city_id", "model_version", "bucket", "metric", "value", "n", "band_upper"]
    now = pd.Timestamp(now)
    have = scored[scored["y"].notna()] if len(scored) else scored
    if have.empty:
        return pd.DataFrame(columns=cols)
    have = have.assign(bucket=bucket_labels(have["step"], cfg.horizon_buckets))
    rows: list[dict[str, Any]] = []
    for w in cfg.windows_h:
        win = have[
            (have["target_time"] >= now - pd.Timedelta(hours=w)) & (have["target_time"] < now)
        ]
        for version, g in win.groupby("model_version"):
            for city, gc in [(ALL, g), *g.groupby("city_id")]:
                for bucket, gb in [("all", gc), *gc.groupby("bucket")]:
                    for name, fn in METRICS.items():
                        rows.append(
                            {
                                "window_h": w,
                                "city_id": str(city),
                                "model_version": str(version),
                                "bucket": str(bucket),
                                "metric": name,
                                "value": fn(gb["y"], gb["value"]),
                                "n": len(gb),
                            }
                        )
    out = pd.DataFrame(rows, columns=cols[:-1])
    out["band_upper"] = np.nan
    if bands is not None and len(bands) and len(out):
        up = _band_lookup(bands)
        for i, r in out.iterrows():
            if r["bucket"] == "all" and r["window_h"] == cfg.window_h:
                out.at[i, "band_upper"] = up(
                    str(r["model_version"]), str(r["city_id"]), str(r["metric"])
                )
    return out


def _band_lookup(bands: pd.DataFrame) -> Any:
    """(version, city, metric) → upper, falling back to the version's ``*`` row; NaN if none."""
    table = {
        (str(v), str(c), str(k)): float(u)
        for v, c, k, u in bands[["model_version", "city_id", "metric", "upper"]].itertuples(
            index=False
        )
    }

    def up(version: str, city: str, metric: str) -> float:
        return table.get((version, city, metric), table.get((version, ALL, metric), np.nan))

    return up


def hourly_rolling(scored: pd.DataFrame, metric: str, window_h: int) -> pd.DataFrame:
    """Per (city, version): the metric over the ``window_h`` hours ending at each target hour.

    Returns:
        ``city_id, model_version, target_time, value, n`` for every target hour with an actual.
    """
    have = scored[scored["y"].notna()]
    if have.empty:
        return pd.DataFrame(columns=["city_id", "model_version", "target_time", "value", "n"])
    err = (have["y"] - have["value"]).to_numpy(np.float64)
    y = have["y"].to_numpy(np.float64)
    if metric == "mape":
        ok = np.abs(y) >= m.EPS
        e = np.where(ok, 100.0 * np.abs(err) / np.where(ok, np.abs(y), 1.0), np.nan)
    elif metric == "mae":
        e = np.abs(err)
    else:
        e = err**2
    frame = have[["city_id", "model_version", "target_time"]].assign(e=e, one=np.isfinite(e) * 1)
    frame = frame.assign(e=frame["e"].fillna(0.0))
    out = []
    for (city, version), g in frame.groupby(["city_id", "model_version"]):
        h = g.groupby("target_time")[["e", "one"]].sum().sort_index()
        full = h.reindex(pd.date_range(h.index.min(), h.index.max(), freq="h"), fill_value=0)
        r = full.rolling(window_h, min_periods=1).sum()
        val = r["e"] / r["one"].where(r["one"] > 0)
        if metric == "rmse":
            val = np.sqrt(val)
        keep = full["one"] > 0
        out.append(
            pd.DataFrame(
                {
                    "city_id": city,
                    "model_version": version,
                    "target_time": full.index[keep],
                    "value": val[keep].to_numpy(),
                    "n": r["one"][keep].to_numpy().astype(int),
                }
            )
        )
    return pd.concat(out, ignore_index=True)


@dataclass(frozen=True)
class Degradation:
    city_id: str
    model_version: str
    metric: str
    value: float  # the latest rolling value
    upper: float
    since: pd.Timestamp  # first target hour of the breach run (UTC)
    hours: int  # length of the breach run in target hours

    def message(self) -> str:
        return (
            f"city {self.city_id}, model v{self.model_version}: rolling {self.metric} "
            f"{self.value:.2f} above the backtest band {self.upper:.2f} for "
            f"{self.hours} h (since {self.since:%Y-%m-%d %H:%M} UTC)"
        )


def degradations(
    scored: pd.DataFrame, bands: pd.DataFrame, cfg: AccuracyConfig
) -> list[Degradation]:
    """Cities whose rolling ``cfg.metric`` has been above the band for ``cfg.sustain_h`` hours."""
    roll = hourly_rolling(scored, cfg.metric, cfg.window_h)
    if roll.empty or bands is None or bands.empty:
        return []
    up = _band_lookup(bands)
    found = []
    for (city, version), g in roll.groupby(["city_id", "model_version"]):
        upper = up(str(version), str(city), cfg.metric)
        if not np.isfinite(upper):
            continue
        g = g.sort_values("target_time")
        breach = (g["value"] > upper) & (g["n"] >= cfg.min_points)
        run = _trailing_run(breach.to_numpy())
        if run >= cfg.sustain_h:
            first = g["target_time"].iloc[len(g) - run]
            found.append(
                Degradation(
                    str(city),
                    str(version),
                    cfg.metric,
                    float(g["value"].iloc[-1]),
                    upper,
                    first,
                    run,
                )
            )
    return found


def _trailing_run(flags: np.ndarray) -> int:
    """Length of the run of True at the end of ``flags``."""
    if flags.size == 0 or not flags[-1]:
        return 0
    false = np.flatnonzero(~flags)
    return int(flags.size - (false[-1] + 1 if false.size else 0))


def band_from_backtest(
    pred: pd.DataFrame,
    window_h: int,
    metric: str = "mape",
    quantile: float = 0.99,
    floor_factor: float = 1.5,
) -> list[tuple[str, str, float, float]]:
    """Band rows ``(city or "*", metric, center, upper)`` from backtest predictions.

    ``pred``: ``city_id, timestamp, y, yhat`` (+ optional ``step``). Center is the median of the
    rolling ``window_h``-hour metric over the backtest; upper its ``quantile``, but at least
    ``floor_factor`` × center: a backtest of a few weeks holds few independent windows, and its
    percentile alone understates how far a good model strays.
    """
    scored = pd.DataFrame(
        {
            "city_id": pred["city_id"].astype(str),
            "model_version": "backtest",
            "target_time": pred["timestamp"],
            "y": pred["y"],
            "value": pred["yhat"],
        }
    )
    roll = hourly_rolling(scored, metric, window_h)
    roll = roll[roll["n"] >= window_h // 2]

    def band(v: pd.Series) -> tuple[float, float]:
        mid = float(v.median())
        return mid, max(float(v.quantile(quantile)), floor_factor * mid)

    rows = [(str(c), metric, *band(g["value"])) for c, g in roll.groupby("city_id")]
    if len(roll):
        rows.append((ALL, metric, *band(roll["value"])))
    return rows


def band_from_registry(
    version_metrics: Mapping[str, Any], band_factor: float, metric: str = "mape"
) -> list[tuple[str, str, float, float]]:
    """Band rows from a registry record (``{"overall": {m: v}, "per_city": {c: {m: v}}}``)."""
    rows = []
    overall = version_metrics.get("overall", {})
    if metric in overall:
        v = float(overall[metric])
        rows.append((ALL, metric, v, v * band_factor))
    for city, vals in version_metrics.get("per_city", {}).items():
        if metric in vals:
            v = float(vals[metric])
            rows.append((str(city), metric, v, v * band_factor))
    return rows
