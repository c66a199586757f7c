"""Monitoring benchmark: replay the GEFCom2012 test window with two injected faults.

Protocol (issue "Monitoring"):
* Model: the ``cpu`` profile's XGBoost member (``--trees`` rounds; the monitor does not care
  which model it watches), fitted on all 20 zones before 2008-03-01; its backtest band comes from
  day-ahead forecasts over March 2008 (per zone: median and 99th percentile of the rolling 24 h
  MAPE). Package history ends 2008-04-01.
* Replay, accelerated: the test window 2008-04-01 → 2008-06-29 (local midnight origins, UTC−5),
  hour by hour on a simulated clock. At each origin every zone asks for a day-ahead forecast with
  its recent loads and the weather over the horizon (ex-post temperatures), through the
  in-process forecast path (``ModelPackage.forecast``); each served hour is logged through the
  replica logger (:class:`ForecastLogger`) into a fresh SQLite store. The actual of hour ``h``
  (load and observed temperature) is ingested at ``h + 24 h``. ``run_checks`` runs every
  ``--check-every`` simulated hours with the default :class:`MonitorConfig`.
* Faults: from ``--level-at`` the load of ``--level-zone`` is 15 % higher (in the history the
  service is fed and in the actuals); from ``--weather-at`` the temperature fed to
  ``--weather-zone`` is 5 °C too warm (its observed temperature stays true).
* Reported: ``detect_h_level`` / ``detect_h_weather``: simulated hours from the fault's start to
  the first alert on that zone (this includes the 24 h until its first actual arrives);
  ``false_alarms``: alerts on the 18 clean zones over the window (one per incident; the cooldown
  and the incident check keep a persisting condition from re-alerting); ``log_overhead_ms``: p50
  of what logging adds to a request in the replica (queueing the response; its records are built
  and written by the logger's thread), measured in process.

Run: ``PYTHONPATH=. .venv/bin/python bench/monitoring.py [--quick]``; the last line is one JSON
object. Outputs (store, report, plots) go to ``bench/out/monitoring/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from energy import schema
from energy.config.experiment import load_config
from energy.data.dataset import Dataset, read_dataset
from energy.data.ingest import import_dataset
from energy.forecast.package import ModelPackage, read_package, write_package
from energy.lifecycle.experiment import build_model, split_validation
from energy.monitoring import accuracy, drift, report
from energy.monitoring.alerts import Notifier
from energy.monitoring.checks import run_checks
from energy.monitoring.config import MonitorConfig
from energy.monitoring.logger import ForecastLogger
from energy.monitoring.store import ForecastRecord, Store, open_store

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "gefcom2012_load"
TZ = "Etc/GMT+5"
H = pd.Timedelta(hours=1)


def log(msg: str) -> None:
    print(f"[monitoring {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def local(day: str) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize(TZ).tz_convert("UTC")


def part(data: Dataset, end: pd.Timestamp) -> Dataset:
    keep = data.load[schema.TIME] < end
    return Dataset(load=data.load[keep].reset_index(drop=True), cities=data.cities,
                   events=data.events, manifest=data.manifest)  # fmt: skip


def model_package(data: Dataset, out: Path, trees: int) -> ModelPackage:
    """The XGBoost member fitted before 2008-03-01; package history up to 2008-04-01 (cached)."""
    pkg = out / f"package_xgb{trees}"
    if not (pkg / "package.json").is_file():
        cfg = load_config("cpu", {"models": {"xgboost": {"n_estimators": trees}}})
        train, val = split_validation(part(data, local("2008-03-01")), 28)
        log(f"fitting xgboost ({trees} rounds) on {len(train.load):,} rows")
        t0 = time.perf_counter()
        model = build_model(cfg, "xgboost").fit(train, val)
        log(f"fitted in {time.perf_counter() - t0:.1f} s")
        write_package(model, part(data, local("2008-04-01")), pkg, meta={"bench": "monitoring"})
    return read_package(pkg)


def day_ahead(
    pkg: ModelPackage, load: pd.DataFrame, fed: pd.DataFrame, origin: pd.Timestamp, zones: list[str]
) -> pd.DataFrame:
    """One day-ahead forecast per zone from ``origin``: history = the 16 days before, weather =
    the temperatures fed for the 24 forecast hours."""
    t = load[schema.TIME]
    hist = load[(t >= origin - 16 * 24 * H) & (t < origin)]
    hist = hist[[schema.CITY, schema.TIME, schema.LOAD, schema.TEMP]].dropna(subset=[schema.LOAD])
    tf = fed[schema.TIME]
    weather = fed[(tf >= origin) & (tf < origin + 24 * H)][[schema.CITY, schema.TIME, schema.TEMP]]
    return pkg.forecast(zones, start=origin, horizon=24, history=hist, weather=weather)


def backtest_band(
    pkg: ModelPackage, data: Dataset, zones: list[str], days: int, cfg: MonitorConfig
) -> list[tuple[Any, ...]]:
    """Day-ahead forecasts over March 2008 → the band: rolling MAPE over the degradation window
    (median, p99) and the period residual (mean, std) per zone."""
    load = data.load
    preds = []
    for d in range(days):
        origin = local("2008-03-01") + d * 24 * H
        preds.append(day_ahead(pkg, load, load, origin, zones))
    pred = pd.concat(preds, ignore_index=True)
    y = load.set_index([schema.CITY, schema.TIME])[schema.LOAD]
    pred["y"] = y.reindex(pd.MultiIndex.from_frame(pred[[schema.CITY, schema.TIME]])).to_numpy()
    mape = accuracy.band_from_backtest(pred, cfg.accuracy.window_h, quantile=0.99)
    return [*mape, *drift.residual_band(pred, cfg.drift)]


def zone_key(key: str) -> str:
    """The zone an alert key names (``zone_02@v1``, ``zone_02:residual``)."""
    return key.split("@")[0].split(":")[0]


def records(frame: pd.DataFrame, origin: pd.Timestamp, fed_temp: dict[Any, float],
            request: int, served_at: pd.Timestamp) -> list[ForecastRecord]:  # fmt: skip
    """What a replica logs for the forecasts it just answered (one record per hour)."""
    out = []
    o = origin.to_pydatetime()
    at = served_at.to_pydatetime()
    for c, ts, step, yhat in frame[["city_id", "timestamp", "step", "yhat"]].itertuples(
        index=False
    ):
        out.append(ForecastRecord(
            f"bench-{request}-{c}", c, o, ts.to_pydatetime(), int(step), float(yhat),
            "gefcom-xgb", "1", "champion", at, fed_temp.get((c, ts)),
        ))  # fmt: skip
    return out


def replay(args: argparse.Namespace, pkg: ModelPackage, data: Dataset, store: Store,
           zones: list[str]) -> dict[str, Any]:  # fmt: skip
    true = data.load[[schema.CITY, schema.TIME, schema.LOAD, schema.TEMP]].copy()
    level_at, weather_at = local(args.level_at), local(args.weather_at)
    faulted = true.copy()
    shift = (faulted[schema.CITY] == args.level_zone) & (faulted[schema.TIME] >= level_at)
    faulted.loc[shift, schema.LOAD] *= 1.15
    fed = true.copy()  # the weather the service is fed
    bias = (fed[schema.CITY] == args.weather_zone) & (fed[schema.TIME] >= weather_at)
    fed.loc[bias, schema.TEMP] += 5.0
    fed_temp = dict(zip(zip(fed[schema.CITY], fed[schema.TIME], strict=True), fed[schema.TEMP],
                        strict=True))  # fmt: skip
    actual_by_hour = {t: g for t, g in faulted.groupby(schema.TIME)}
    ref = part(data, local("2008-03-01")).load

    cfg = MonitorConfig()
    clock = [local(args.start)]
    notifier = Notifier(store, cfg.alerts, clock=lambda: clock[0].to_pydatetime())
    logger = ForecastLogger(store.add_forecasts, queue_size=cfg.logger.queue_size,
                            batch_size=cfg.logger.batch_size, flush_s=0.05)  # fmt: skip
    start, end = local(args.start), local(args.start) + args.days * 24 * H
    alarms, log_ms, fc_ms = [], [], []
    n_req = 0
    t = start
    while t < end:
        clock[0] = t
        if (t - start) % (24 * H) == pd.Timedelta(0):  # an origin: every zone asks
            t0 = time.perf_counter()
            frame = day_ahead(pkg, faulted, fed, t, zones)
            fc_ms.append((time.perf_counter() - t0) * 1e3)
            for _, g in frame.groupby("city_id", sort=False):  # one request per zone
                n_req += 1
                t0 = time.perf_counter()  # what a replica adds: queue the response's records
                logger.log(partial(records, g, t, fed_temp, n_req, t), len(g))
                log_ms.append((time.perf_counter() - t0) * 1e3)
        arrived = actual_by_hour.get(t - 24 * H)  # the actual of the hour 24 h ago
        if arrived is not None:
            store.upsert_actuals(arrived.dropna(subset=[schema.LOAD]))
        if (t - start) % (args.check_every * H) == pd.Timedelta(0) and t > start + 48 * H:
            logger.flush(30)
            res = run_checks(store, cfg, notifier, t, reference=ref,
                             record_metrics=(t - start) % (24 * H) == pd.Timedelta(0))  # fmt: skip
            for e in res.alarms():
                alarms.append({"at": t.isoformat(), "kind": e.kind, "key": e.key})
                log(f"{t:%Y-%m-%d %H:%M} alert {e.kind} {e.key}")
        if (t - start) % (7 * 24 * H) == pd.Timedelta(0):
            log(f"replay at {t:%Y-%m-%d}: {n_req} requests, {len(alarms)} alerts")
        t += H
    logger.close()

    def first(zone: str, since: pd.Timestamp) -> float | None:
        hits = [
            pd.Timestamp(a["at"])
            for a in alarms
            if zone_key(a["key"]) == zone and pd.Timestamp(a["at"]) >= since
        ]
        return round((min(hits) - since) / H, 1) if hits else None

    faulty = {args.level_zone, args.weather_zone}
    zone_of = [zone_key(a["key"]) for a in alarms]
    clean = [a for a, z in zip(alarms, zone_of, strict=True) if z not in faulty]
    early = [a for a, z in zip(alarms, zone_of, strict=True) if z in faulty and (
        pd.Timestamp(a["at"]) < (level_at if z == args.level_zone else weather_at))]  # fmt: skip
    return {
        "detect_h_level": first(args.level_zone, level_at),
        "detect_h_weather": first(args.weather_zone, weather_at),
        "false_alarms": len(clean),
        "prefault_alarms_on_faulty_zones": len(early),
        "log_overhead_ms": round(float(np.median(log_ms)), 4),
        "log_overhead_p99_ms": round(float(np.percentile(log_ms, 99)), 4),
        "forecast_call_ms_p50": round(float(np.median(fc_ms)), 1),
        "requests": n_req,
        "logged_hours": logger.written,
        "dropped": logger.dropped,
        "alarms": alarms,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "monitoring"))
    p.add_argument("--trees", type=int, default=150)
    p.add_argument("--start", default="2008-04-01")
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--band-days", type=int, default=31)
    p.add_argument("--check-every", type=int, default=6, help="simulated hours between checks")
    p.add_argument("--level-zone", default="zone_02")
    p.add_argument("--level-at", default="2008-05-06")
    p.add_argument("--weather-zone", default="zone_06")
    p.add_argument("--weather-at", default="2008-06-03")
    p.add_argument("--quick", action="store_true", help="4 weeks, faults a week in")
    args = p.parse_args()
    if args.quick:
        args.days, args.band_days = 28, 14
        args.level_at, args.weather_at = "2008-04-08", "2008-04-15"
    out = Path(args.out)
    cache = out / "gefcom2012"
    if not (cache / "manifest.json").is_file():
        log(f"importing {SHARED}")
        import_dataset("gefcom2012", SHARED, cache)
    data = read_dataset(cache)
    zones = sorted(data.load[schema.CITY].unique())
    t_all = time.perf_counter()
    pkg = model_package(data, out, args.trees)
    db = out / "monitor.db"
    for f in out.glob("monitor.db*"):
        f.unlink()
    (out / "alerts.jsonl").unlink(missing_ok=True)
    store = open_store(f"sqlite:///{db}")
    band = backtest_band(pkg, data, zones, args.band_days, MonitorConfig())
    store.set_baselines("1", band, source="backtest:2008-03")
    overall = next((b for b in band if b[0] == "*"), None)  # none from a band run < 84 h
    if overall is not None:
        log(
            f"band: {len(band)} rows; all zones {overall[1]} median {overall[2]:.2f}, upper "
            f"{overall[3]:.2f}"
        )
    res = replay(args, pkg, data, store, zones)
    rep = report.write_report(store, out / "report", pd.Timedelta(days=args.days),
                              now=local(args.start) + args.days * 24 * H)  # fmt: skip
    (out / "alarms.json").write_text(json.dumps(res.pop("alarms"), indent=2))
    res["replay_s"] = round(time.perf_counter() - t_all, 1)
    res["scored_hours"] = rep["scored_hours"]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
