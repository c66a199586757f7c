"""Drift: inputs against a same-season reference, residuals with an online detector.

* **Input drift** (weather fed to the model, observed load): the last ``window_h`` hours of a city
  against the same calendar season (± ``season_days``) of earlier years of the training data.
  Scores: the population stability index (PSI, reference-quantile bins) and the two-sample
  Kolmogorov–Smirnov statistic D (``scipy.stats.ks_2samp``; its p-value is reported but not used
  to alarm: hourly values are autocorrelated, so p-values are far too small).
  An input drifts when PSI ≥ ``psi_alarm`` **and** D ≥ ``ks_alarm``.
* **Residual drift**: the relative residual ``(y − ŷ) / y`` of each city, minus the median of all
  cities at the same hour (what they share is weather, not one city's drift), averaged per
  ``residual_period_h``, standardised by the version's backtest band (mean, std) and fed in
  target order to an online detector: a two-sided Page–Hinkley test against the band's known mean
  (:class:`Cusum`, default), or river's Page–Hinkley / ADWIN. Replayed from the start of the
  monitored span, so the check is stateless between runs.
* **Weather bias**: mean served − observed temperature over the last 24 h of a city (°C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from energy import schema
from energy.monitoring.config import DriftConfig

EPS = 1e-4


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (quantile bins of the
    reference; ``EPS`` keeps empty bins finite). 0: same; > 0.25: usually a real shift."""
    ref = np.asarray(reference, np.float64)
    cur = np.asarray(current, np.float64)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size < bins or cur.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    p = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1) / ref.size
    q = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1) / cur.size
    p, q = np.clip(p, EPS, None), np.clip(q, EPS, None)
    return float(np.sum((q - p) * np.log(q / p)))


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic D and its p-value (NaN when a side is empty)."""
    ref = np.asarray(reference, np.float64)
    cur = np.asarray(current, np.float64)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        return float("nan"), float("nan")
    res = stats.ks_2samp(ref, cur)
    return float(res.statistic), float(res.pvalue)


def same_season(history: pd.DataFrame, start: Any, end: Any, season_days: int) -> pd.DataFrame:
    """Rows of earlier years whose day of year lies within ``season_days`` of [start, end).

    Only rows more than 180 days before ``start`` are used, so the reference never overlaps the
    monitored window nor the weeks just before it.
    """
    start, end = _utc(start), _utc(end)
    t = history[schema.TIME]
    old = history[t < start - pd.Timedelta(days=180)]
    if old.empty:
        return old
    doy = old[schema.TIME].dt.day_of_year.to_numpy()
    lo = start.day_of_year - season_days
    hi = (start.day_of_year + (end - start).days + season_days) % 366 or 366
    if lo < 1:
        keep = (doy >= lo + 365) | (doy <= hi)
    elif hi < lo:  # wraps past the new year
        keep = (doy >= lo) | (doy <= hi)
    else:
        keep = (doy >= lo) & (doy <= hi)
    return old[keep]


def _utc(t: Any) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def input_drift(
    current: pd.DataFrame, reference: pd.DataFrame, now: Any, cfg: DriftConfig
) -> pd.DataFrame:
    """PSI and KS per city and column over the ``cfg.window_h`` hours before ``now``.

    Args:
        current: ``city_id, timestamp`` + columns (served weather, observed load).
        reference: the training history (same columns), any span: the same season is taken.

    Returns:
        ``city_id, column, psi, ks_d, ks_p, n_cur, n_ref, alarm`` (one row per pair with data).
    """
    now = _utc(now)
    start = now - pd.Timedelta(hours=cfg.window_h)
    cur = current[(current[schema.TIME] >= start) & (current[schema.TIME] < now)]
    ref = same_season(reference, start, now, cfg.season_days)
    rows = []
    for city, g in cur.groupby(schema.CITY):
        r = ref[ref[schema.CITY] == city]
        for col in cfg.columns:
            if col not in g or col not in r:
                continue
            a, b = r[col].to_numpy(np.float64), g[col].to_numpy(np.float64)
            if np.isfinite(b).sum() < cfg.window_h // 2 or np.isfinite(a).sum() < cfg.bins:
                continue
            score = psi(a, b, cfg.bins)
            d, p = ks(a, b)
            rows.append(
                {
                    "city_id": str(city),
                    "column": col,
                    "psi": score,
                    "ks_d": d,
                    "ks_p": p,
                    "n_cur": int(np.isfinite(b).sum()),
                    "n_ref": int(np.isfinite(a).sum()),
                    "alarm": bool(score >= cfg.psi_alarm and d >= cfg.ks_alarm),
                }
            )
    return pd.DataFrame(
        rows, columns=["city_id", "column", "psi", "ks_d", "ks_p", "n_cur", "n_ref", "alarm"]
    )


@dataclass(frozen=True)
class ResidualDrift:
    city_id: str
    detector: str
    at: pd.Timestamp  # start of the period at which the detector fired (UTC)
    mean_residual: float  # that period's relative residual (+: load above forecast)
    z: float  # the same in band scales


class Cusum:
    """Two-sided Page–Hinkley test against a *known* mean (Page's CUSUM): the band gives the
    reference mean and scale, so unlike river's Page–Hinkley it does not learn the drifted mean
    as normal while it accumulates evidence. Inputs are standardised residuals ``z``."""

    def __init__(self, delta: float, threshold: float, min_instances: int = 1) -> None:
        self.delta, self.threshold, self.min_instances = delta, threshold, min_instances
        self.up = self.down = 0.0
        self.n = 0
        self.drift_detected = False

    def update(self, z: float) -> None:
        self.n += 1
        self.up = max(0.0, self.up + z - self.delta)
        self.down = max(0.0, self.down - z - self.delta)
        self.drift_detected = self.n >= self.min_instances and max(self.up, self.down) > (
            self.threshold
        )
        if self.drift_detected:
            self.up = self.down = 0.0


def _detector(cfg: DriftConfig) -> Any:
    """A fresh detector fed standardised residuals in daily units (``z·√(period/24)``)."""
    per_day = float(np.sqrt(cfg.residual_period_h / 24))
    if cfg.residual_detector == "cusum":
        return Cusum(cfg.ph_delta * per_day, cfg.ph_threshold, cfg.ph_min_periods)
    from river import drift as river_drift

    if cfg.residual_detector == "adwin":
        return river_drift.ADWIN(delta=cfg.adwin_delta, clock=1, grace_period=cfg.ph_min_periods)
    return river_drift.PageHinkley(
        min_instances=cfg.ph_min_periods, delta=cfg.ph_delta * per_day,
        threshold=cfg.ph_threshold, mode="both",
    )  # fmt: skip


def residual_series(
    scored: pd.DataFrame, period_h: int = 24, peer_adjust: bool = True
) -> pd.DataFrame:
    """Relative residual ``(y − ŷ) / y`` per city and period (complete periods only).

    With ``peer_adjust`` the median residual of all cities at the same hour is subtracted first:
    what all cities share (a weather surprise, a holiday) is not one city's drift.

    Returns:
        ``city_id, model_version, period, r, n`` (``period``: its first hour, UTC).
    """
    cols = ["city_id", "model_version", "period", "r", "n"]
    have = scored[scored["y"].notna() & (scored["y"].abs() > 0)]
    if have.empty:
        return pd.DataFrame(columns=cols)
    rel = ((have["y"] - have["value"]) / have["y"]).to_numpy(np.float64)
    hourly = (
        have[["city_id", "model_version", "target_time"]].assign(r=rel)
        .groupby(["city_id", "model_version", "target_time"], as_index=False)["r"].mean()
    )  # fmt: skip
    if peer_adjust and hourly["city_id"].nunique() >= 3:
        med = hourly.groupby("target_time")["r"].transform("median")
        hourly["r"] = hourly["r"] - med
    hourly["period"] = hourly["target_time"].dt.floor(f"{period_h}h")
    out = hourly.groupby(["city_id", "model_version", "period"], as_index=False).agg(
        r=("r", "mean"), n=("r", "size")
    )
    return out[out["n"] >= max(1, int(0.8 * period_h))][cols].reset_index(drop=True)


def residual_band(
    pred: pd.DataFrame, cfg: DriftConfig
) -> list[tuple[str, str, float, float, float]]:
    """Band rows ``(city, "residual", mean, mean + 3·std, std)`` of the period residual over a
    backtest (``city_id, timestamp, y, yhat``): the scale residual drift is measured in."""
    scored = pd.DataFrame({
        "city_id": pred["city_id"].astype(str), "model_version": "backtest",
        "target_time": pred["timestamp"], "y": pred["y"], "value": pred["yhat"],
    })  # fmt: skip
    series = residual_series(scored, cfg.residual_period_h, cfg.peer_adjust)
    rows = []
    for city, g in series.groupby("city_id"):
        mean, std = float(g["r"].mean()), float(g["r"].std(ddof=1))
        if np.isfinite(std) and std > 0:
            rows.append((str(city), RESIDUAL, mean, mean + 3 * std, std))
    return rows


RESIDUAL = "residual"


def _scales(bands: pd.DataFrame | None) -> dict[tuple[str, str], tuple[float, float]]:
    """(version, city) → (center, scale) of the residual; from the mape band when none."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    if bands is None or bands.empty:
        return out
    for r in bands.itertuples(index=False):
        key = (str(r.model_version), str(r.city_id))
        if r.metric == RESIDUAL and r.scale is not None and np.isfinite(r.scale):
            out[key] = (float(r.center), float(r.scale))
        elif r.metric == "mape" and key not in out:
            out[key] = (0.0, float(r.center) / 100.0)  # MAPE ≈ the spread of a period's mean
    return out


def residual_drift(
    scored: pd.DataFrame,
    cfg: DriftConfig,
    since: Any = None,
    bands: pd.DataFrame | None = None,
) -> list[ResidualDrift]:
    """Replay each city's period residuals, standardised by its version's band, through a fresh
    detector; report the first detection at or after ``since`` (UTC; None: any)."""
    series = residual_series(scored, cfg.residual_period_h, cfg.peer_adjust)
    scales = _scales(bands)
    per_day = float(np.sqrt(cfg.residual_period_h / 24))
    since_ts = _utc(since) if since is not None else None
    found = []
    for (city, version), g in series.groupby(["city_id", "model_version"]):
        center, scale = scales.get((str(version), str(city)),
                                   scales.get((str(version), "*"), (0.0, 0.05)))  # fmt: skip
        det = _detector(cfg)
        g = g.sort_values("period")
        for t, r in zip(g["period"], g["r"].to_numpy(np.float64), strict=True):
            z = (r - center) / max(scale, 1e-6)
            det.update(float(z) * per_day)
            if det.drift_detected:
                at = _utc(t)
                if since_ts is None or at >= since_ts:
                    found.append(ResidualDrift(str(city), cfg.residual_detector, at, float(r), z))
                    break
    return found


def weather_bias(scored: pd.DataFrame, now: Any, hours: int = 24) -> pd.DataFrame:
    """Mean served − observed temperature (°C) per city over its last ``hours`` hours that have
    both (observations arrive with the actuals, so these hours end before ``now``)."""
    cols = ["city_id", "bias_c", "n"]
    if "temperature_c" not in scored or "temperature_obs" not in scored:
        return pd.DataFrame(columns=cols)
    g = scored[scored["target_time"] < _utc(now)]
    diff = pd.to_numeric(g["temperature_c"], errors="coerce") - pd.to_numeric(
        g["temperature_obs"], errors="coerce"
    )
    frame = g[["city_id", "target_time"]].assign(d=diff.to_numpy(np.float64)).dropna()
    if frame.empty:
        return pd.DataFrame(columns=cols)
    last = frame.groupby("city_id")["target_time"].transform("max")
    frame = frame[frame["target_time"] > last - pd.Timedelta(hours=hours)]
    out = frame.groupby("city_id")["d"].agg(["mean", "count"]).reset_index()
    return out.rename(columns={"mean": "bias_c", "count": "n"})[cols]
