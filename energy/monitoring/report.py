"""``energy monitor report`` and ``GET /v1/monitor/summary``: what was served, how good, what fired.

:func:`summary` is a JSON-able dict (the API returns it as is); :func:`format_table` prints it;
:func:`write_report` adds ``summary.json`` and PNG plots (forecast vs actual per city, rolling
MAPE per model version, drift scores per city).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from energy.evaluation import metrics as m
from energy.monitoring import accuracy, drift
from energy.monitoring.store import Store, utcnow


def parse_since(value: str) -> pd.Timedelta:
    """``"7d"``, ``"36h"``, ``"2w"`` → a duration.

    Raises:
        ValueError: ``--since: ...`` naming the value.
    """
    got = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", str(value))
    if not got or int(got.group(1)) == 0:
        raise ValueError(f"--since: expected a duration like 24h, 7d or 2w, got {value!r}")
    n, unit = int(got.group(1)), got.group(2)
    return pd.Timedelta(hours=n * {"h": 1, "d": 24, "w": 168}[unit])


def _num(x: Any) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def _scores(g: pd.DataFrame) -> dict[str, Any]:
    return {
        "mape": _num(m.mape(g["y"], g["value"])),
        "mae": _num(m.mae(g["y"], g["value"])),
        "rmse": _num(m.rmse(g["y"], g["value"])),
        "r2": _num(m.r2(g["y"], g["value"])),
        "n": len(g),
    }


def summary(store: Store, since: pd.Timedelta, now: Any = None) -> dict[str, Any]:
    """Served and scored counts, accuracy per city × version (with the version's band), per
    horizon bucket, drift indicators, events and open retraining requests over ``since``."""
    now = pd.Timestamp(now if now is not None else utcnow())
    start = now - since
    scored = store.scored(start, now)
    have = scored[scored["y"].notna()]
    bands = store.baselines()
    up = accuracy._band_lookup(bands) if len(bands) else (lambda *_: float("nan"))
    per_city = [
        {"city_id": c, "model_version": v, **_scores(g), "band_upper_mape": _num(up(v, c, "mape"))}
        for (c, v), g in have.groupby(["city_id", "model_version"])
    ]
    per_version = [{"model_version": v, **_scores(g)} for v, g in have.groupby("model_version")]
    buckets = accuracy.bucket_labels(have["step"], (6, 12, 24, 48, 168)) if len(have) else []
    per_bucket = (
        [{"bucket": b, **_scores(g)} for b, g in have.groupby(buckets)] if len(have) else []
    )
    bias = drift.weather_bias(scored, now, hours=int(since / pd.Timedelta(hours=1)))
    res = drift.residual_series(scored)
    drift_rows = {str(c): {"mean_residual": _num(g["r"].mean())} for c, g in res.groupby("city_id")}
    for b in bias.itertuples(index=False):
        drift_rows.setdefault(str(b.city_id), {})["weather_bias_c"] = _num(b.bias_c)
    events = store.events(since=start)
    requests = store.retrain_requests(status="open")
    return {
        "since": start.isoformat(),
        "until": now.isoformat(),
        "store": store.url,
        "served_hours": len(scored),
        "scored_hours": len(have),
        "cities": sorted(scored["city_id"].unique().tolist()) if len(scored) else [],
        "accuracy": {"by_city": per_city, "by_version": per_version, "by_bucket": per_bucket},
        "drift": drift_rows,
        "events": {
            "counts": events["kind"].value_counts().to_dict() if len(events) else {},
            "latest": [
                {"at": r.created_at.isoformat(), "kind": r.kind, "key": r.key, "message": r.message}
                for r in events.tail(20).itertuples(index=False)
            ],
        },
        "retrain_requests_open": len(requests),
    }


def format_table(s: dict[str, Any]) -> str:
    """The summary as terminal text (one line per city × version)."""
    lines = [
        f"monitoring {s['since']} → {s['until']}  ({s['store']})",
        f"served hours {s['served_hours']:,}, scored {s['scored_hours']:,}, "
        f"open retraining requests {s['retrain_requests_open']}",
        "",
    ]
    head = (
        f"{'city':<14}{'version':>8}{'MAPE %':>9}{'band':>8}{'MAE':>10}{'RMSE':>10}{'R²':>8}"
        f"{'n':>7}"
    )
    lines.append(head)
    lines.append("-" * len(head))

    def f(x: Any, w: int, p: int = 2) -> str:
        return f"{x:>{w}.{p}f}" if x is not None else f"{'—':>{w}}"

    for r in s["accuracy"]["by_city"]:
        lines.append(
            f"{r['city_id']:<14}{r['model_version']:>8}{f(r['mape'], 9)}"
            f"{f(r['band_upper_mape'], 8)}{f(r['mae'], 10)}{f(r['rmse'], 10)}"
            f"{f(r['r2'], 8, 3)}{r['n']:>7}"
        )
    for r in s["accuracy"]["by_version"]:
        lines.append(
            f"{'(all)':<14}{r['model_version']:>8}{f(r['mape'], 9)}{'':>8}"
            f"{f(r['mae'], 10)}{f(r['rmse'], 10)}{f(r['r2'], 8, 3)}{r['n']:>7}"
        )
    ev = s["events"]["counts"]
    lines += ["", "events: " + (", ".join(f"{k} {v}" for k, v in ev.items()) or "none")]
    lines += [f"  {e['at']}  {e['kind']:<12} {e['message']}" for e in s["events"]["latest"][-10:]]
    return "\n".join(lines)


def write_report(store: Store, out: Path, since: pd.Timedelta, now: Any = None) -> dict[str, Any]:
    """Write ``summary.json`` and the PNG plots under ``out``; return the summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    s = summary(store, since, now)
    (out / "summary.json").write_text(json.dumps(s, indent=2, default=str))
    now_ts = pd.Timestamp(s["until"])
    scored = store.scored(now_ts - since, now_ts)
    have = scored[scored["y"].notna()]
    files = ["summary.json"]
    if len(have):
        cities = sorted(have["city_id"].unique())[:12]
        fig, axes = plt.subplots(len(cities), 1, figsize=(10, 2.2 * len(cities)), squeeze=False)
        for ax, c in zip(axes[:, 0], cities, strict=True):
            g = have[have["city_id"] == c].groupby("target_time")[["y", "value"]].mean()
            ax.plot(g.index, g["y"], label="actual", lw=1)
            ax.plot(g.index, g["value"], label="forecast (mean over origins)", lw=1)
            ax.set_ylabel(f"{c}\nMW")
        axes[0, 0].legend(loc="upper right")
        fig.tight_layout()
        fig.savefig(out / "forecast_vs_actual.png", dpi=80)
        plt.close(fig)
        roll = accuracy.hourly_rolling(have.assign(city_id="*"), "mape", 24)
        fig, ax = plt.subplots(figsize=(10, 3))
        for v, g in roll.groupby("model_version"):
            ax.plot(g["target_time"], g["value"], label=f"v{v}")
        ax.set_ylabel("rolling 24 h MAPE %")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "rolling_mape_by_version.png", dpi=80)
        plt.close(fig)
        files += ["forecast_vs_actual.png", "rolling_mape_by_version.png"]
    if s["drift"]:
        names = sorted(s["drift"])
        fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.5), 3))
        vals = [100 * (s["drift"][c].get("mean_residual") or 0) for c in names]
        ax.bar(names, vals, label="mean relative residual %")
        bias = [s["drift"][c].get("weather_bias_c") or 0 for c in names]
        ax.plot(names, bias, "o", color="C3", label="weather bias °C")
        ax.tick_params(axis="x", rotation=90)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "drift_scores.png", dpi=80)
        plt.close(fig)
        files.append("drift_scores.png")
    s["files"] = [str(out / f) for f in files]
    return s
