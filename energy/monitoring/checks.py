"""One monitoring pass at a given time: accuracy, degradation, drift → metrics, events, requests.

``energy monitor check`` runs it once (a cron or the schedule runs it hourly); the benchmark runs
it every simulated hour. It is stateless: everything it needs is read from the store (and the
training history, for the input-drift reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from energy import schema
from energy.monitoring import accuracy, drift
from energy.monitoring.alerts import Emitted, Notifier
from energy.monitoring.config import MonitorConfig
from energy.monitoring.store import Store


@dataclass
class CheckResult:
    now: pd.Timestamp
    metrics: pd.DataFrame
    degradations: list[accuracy.Degradation]
    input_drift: pd.DataFrame
    residual_drift: list[drift.ResidualDrift]
    weather_bias: pd.DataFrame
    events: list[Emitted] = field(default_factory=list)

    def alarms(self) -> list[Emitted]:
        """Events that were notified (not suppressed by the cooldown)."""
        return [e for e in self.events if not e.suppressed]


def monitored_inputs(scored: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """Per city and hour: the temperature the service was fed (mean over the forecasts of that
    hour, °C) and the observed load (MW): the two inputs checked for drift."""
    fed = (
        scored.dropna(subset=["temperature_c"])
        .groupby(["city_id", "target_time"], as_index=False)["temperature_c"]
        .mean()
        .rename(columns={"target_time": schema.TIME})
    )
    load = actuals[[schema.CITY, schema.TIME, schema.LOAD]]
    return fed.merge(load, on=[schema.CITY, schema.TIME], how="outer")


def run_checks(
    store: Store,
    cfg: MonitorConfig,
    notifier: Notifier,
    now: Any,
    *,
    reference: pd.DataFrame | None = None,
    record_metrics: bool = True,
    residual_since: Any = None,
) -> CheckResult:
    """Score, detect and alert at ``now`` (UTC).

    Args:
        reference: training history (``city_id, timestamp, load_mw, temperature_c``) for the
            same-season input-drift reference; without it input drift is skipped.
        record_metrics: compute the rolling accuracy table and write it to ``metrics``.
        residual_since: only residual detections at or after this time alarm (default: the
            drift window before ``now``).
    """
    now = pd.Timestamp(now)
    span = max(*cfg.accuracy.windows_h, cfg.drift.window_h, cfg.accuracy.window_h)
    since = now - pd.Timedelta(hours=span)
    scored = store.scored(since, now)
    bands = store.baselines()
    metrics = pd.DataFrame()
    if record_metrics:  # the full table is for the record; the detectors below do not need it
        metrics = accuracy.rolling_accuracy(scored, now, cfg.accuracy, bands)
        store.add_metrics(metrics, now)
    events: list[Emitted] = []

    seen = _notified(store, now - pd.Timedelta(hours=span))
    degr = accuracy.degradations(scored, bands, cfg.accuracy)
    for d in degr:
        if (f"{d.city_id}@v{d.model_version}", d.since.isoformat()) in seen:
            continue  # this breach was notified already: one alert per incident
        events.append(
            notifier.emit(
                "degradation",
                f"{d.city_id}@v{d.model_version}",
                d.message(),
                payload={
                    "city_id": d.city_id,
                    "model_version": d.model_version,
                    "metric": d.metric,
                    "value": round(d.value, 3),
                    "upper": round(d.upper, 3),
                    "hours": d.hours,
                    "since": d.since.isoformat(),
                },
                city_id=d.city_id,
                model_version=d.model_version,
            )
        )

    inputs = pd.DataFrame()
    if reference is not None:
        current = monitored_inputs(scored, store.actuals(since, now))
        inputs = drift.input_drift(current, reference, now, cfg.drift)
        alarm = inputs["alarm"] & inputs["column"].isin(cfg.drift.alarm_columns)
        for r in inputs[alarm].itertuples(index=False):
            msg = (
                f"city {r.city_id}: input {r.column} drifted from its same-season reference "
                f"(PSI {r.psi:.2f}, KS D {r.ks_d:.2f} over {r.n_cur} h)"
            )
            events.append(
                notifier.emit(
                    "drift",
                    f"{r.city_id}:{r.column}",
                    msg,
                    city_id=str(r.city_id),
                    payload={
                        "detector": "input",
                        "column": r.column,
                        "psi": round(r.psi, 3),
                        "ks_d": round(r.ks_d, 3),
                    },
                )
            )

    start = (
        residual_since
        if residual_since is not None
        else now - pd.Timedelta(hours=cfg.drift.window_h)
    )
    residual = drift.residual_drift(scored, cfg.drift, since=start, bands=bands)
    for rd in residual:
        if (f"{rd.city_id}:residual", rd.at.isoformat()) in seen:
            continue
        msg = (
            f"city {rd.city_id}: forecast residuals drifted ({rd.detector} at "
            f"{rd.at:%Y-%m-%d %H:%M} UTC, relative residual {rd.mean_residual:+.1%}, "
            f"{rd.z:+.1f} band scales)"
        )
        events.append(
            notifier.emit(
                "drift",
                f"{rd.city_id}:residual",
                msg,
                city_id=rd.city_id,
                payload={
                    "detector": rd.detector,
                    "at": rd.at.isoformat(),
                    "mean_residual": round(rd.mean_residual, 4),
                },
            )
        )

    bias = drift.weather_bias(scored, now)
    bad = bias[(bias["bias_c"].abs() >= cfg.drift.weather_bias_c) & (bias["n"] >= 12)]
    for b in bad.itertuples(index=False):
        msg = (
            f"city {b.city_id}: served temperature is {b.bias_c:+.1f} °C off the observed "
            f"one over the last 24 h"
        )
        events.append(
            notifier.emit(
                "drift",
                f"{b.city_id}:weather_bias",
                msg,
                city_id=str(b.city_id),
                payload={"detector": "weather_bias", "bias_c": round(float(b.bias_c), 2)},
            )
        )
    return CheckResult(now, metrics, degr, inputs, residual, bias, events)


def _notified(store: Store, since: pd.Timestamp) -> set[tuple[str, str]]:
    """(key, incident start) of the degradation and drift alerts sent since ``since``: a check
    is stateless, so the same breach or detection is recognised by when it started."""
    events = store.events(since=since)
    out = set()
    for key, payload in zip(events.get("key", []), events.get("payload", []), strict=True):
        p = payload or {}
        start = p.get("since") or p.get("at")
        if start:
            out.add((str(key), str(start)))
    return out


def error_rate_check(
    notifier: Notifier, route: str, errors: int, total: int, threshold: float
) -> Emitted | None:
    """Serving errors over ``threshold`` of ``total`` requests → a ``serving_error_rate`` event."""
    if total <= 0 or errors / total <= threshold or not np.isfinite(errors / total):
        return None
    return notifier.emit(
        "serving_error_rate",
        route,
        f"{route}: {errors} of {total} requests failed ({errors / total:.1%} > {threshold:.1%})",
        severity="error",
        payload={"errors": errors, "total": total},
    )
