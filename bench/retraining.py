"""Benchmark: 8 weeks of scheduled retraining on GEFCom2012 under a fake clock.

The schedules of ``cluster/schedules.yaml`` (daily 02:00, weekly Sunday 01:00, America/New_York)
fire on a simulated clock over ``--weeks`` weeks. Every fire is delivered twice (as after a
daemon restart or a fold hour) and runs through slot ids, as the daemon does on Ray: the bench
counts runs expected vs done, duplicates and missed slots. Each run is
:func:`energy.lifecycle.retrain.retrain` (the one pipeline: fit → backtest on the window's
validation days → MLflow run → registry version → gate), on the actuals visible at that time
(up to the previous local midnight). Three registries, one per policy:

* (a) static: the champion trained at the start, never retrained;
* (b) weekly only;
* (c) daily + weekly.

Each day of the period is forecast day-ahead (origin local midnight) by the champion in force
at that time; the mean MAPE over the period compares the policies.

Fast profile: XGBoost only (``--trees`` trees), ``--zones`` zones, MLflow on SQLite in a
temporary folder. Run::

    PYTHONPATH=. .venv/bin/python bench/retraining.py --zones 3 --weeks 8

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def log(msg: str) -> None:
    print(f"[retraining {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def gefcom(cache: Path, zones: int) -> Any:
    from energy.data.dataset import read_dataset
    from energy.data.ingest import import_dataset

    out = cache / "gefcom2012"
    if not (out / "manifest.json").is_file():
        log(f"importing gefcom2012 into {out}")
        import_dataset("gefcom2012", SHARED / "gefcom2012_load", out)
    ds = read_dataset(out)
    return ds.select(ds.city_ids[:zones])


def visible(ds: Any, now: datetime) -> Any:
    """The actuals a run at ``now`` sees: rows before the previous local midnight."""
    from energy import schema
    from energy.data.dataset import Dataset

    cut = pd.Timestamp(now).normalize().tz_convert("UTC")
    load = ds.load[ds.load[schema.TIME] < cut].reset_index(drop=True)
    return Dataset(load=load, cities=ds.cities, events=ds.events, manifest=dict(ds.manifest))


def config(trees: int, name: str) -> Any:
    from energy.config.experiment import ExperimentConfig

    return ExperimentConfig.model_validate(
        {
            "name": f"bench-retrain-{name}",
            "features": {"horizon": 24, "lags": [24, 48, 168]},
            "models": {"xgboost": {"n_estimators": trees, "n_jobs": 1}},
            "ensemble": {"val_days": 7},
            "baselines": [],
            "promotion": {"registered_model": f"bench-{name}", "windows_days": 7},
        }
    )


def simulate(ds: Any, t0: datetime, t1: datetime, trees: int, out: Path) -> dict[str, Any]:
    """Fire the schedules on a fake clock for the three policies; returns counts and champions
    per policy as ``[(effective from, package dir)]``."""
    from energy.lifecycle.retrain import retrain
    from energy.lifecycle.schedules import fire_times, load_schedules, slot_id

    file = load_schedules(REPO / "cluster" / "schedules.yaml")
    fires = sorted(
        (t, s) for s in file.schedules for t in fire_times(s, t0, t1) if s.enabled
    )  # fmt: skip
    champions: dict[str, list[tuple[datetime, Path]]] = {}
    counts: dict[str, Any] = {}
    for policy, modes in (
        ("static", set()),
        ("weekly", {"weekly"}),
        ("daily_weekly", {"daily", "weekly"}),
    ):
        cfg = config(trees, policy)
        first = retrain("weekly", cfg, visible(ds, t0), out / policy / "initial", kind="xgboost",
                        reason="initial champion")  # fmt: skip
        assert first.promoted, first.summary()
        champions[policy] = [(t0, out / policy / "initial")]
        submitted: set[str] = set()  # what Ray's job table would hold
        trained: Counter[str] = Counter()
        expected = [(t, s) for t, s in fires if s.mode in modes]
        promoted = 0
        for t, s in expected:
            for _delivery in range(2):  # every fire arrives twice: restart / second daemon
                slot = slot_id(s, t)
                if slot in submitted:
                    continue  # submit_job(submission_id=slot) refuses it
                submitted.add(slot)
                trained[slot] += 1
                where = out / policy / slot
                o = retrain(s.mode, cfg, visible(ds, t), where, kind="xgboost",
                            reason=f"scheduled {s.mode} {slot}")  # fmt: skip
                log(f"{policy} {slot}: v{o.result.version} "
                    f"{'promoted' if o.promoted else 'kept champion'}")  # fmt: skip
                if o.promoted:
                    promoted += 1
                    champions[policy].append((t, where))
        counts[policy] = {
            "runs_expected": len(expected),
            "runs_done": len(trained),
            "duplicates": sum(n - 1 for n in trained.values()),
            "missed": len({slot_id(s, t) for t, s in expected} - set(trained)),
            "promoted": promoted,
        }
    return {"counts": counts, "champions": champions}


def mean_mape(ds: Any, champions: list[tuple[datetime, Path]], t0: datetime, t1: datetime) -> float:
    """Day-weighted mean MAPE (%) of the day-ahead forecasts of the champion in force each day."""
    from energy.lifecycle.promotion import Protocol, score, summarize
    from energy.models.base import Forecaster

    cfg = config(1, "eval")
    total, days = 0.0, 0
    bounds = [t for t, _ in champions[1:]] + [t1]
    for (start, pkg), end in zip(champions, bounds, strict=True):
        lo = pd.Timestamp(start).normalize() + pd.Timedelta(days=1 if start > t0 else 0)
        hi = pd.Timestamp(end).normalize() + pd.Timedelta(days=1 if end < t1 else 0)
        n = int((hi - lo) / pd.Timedelta(days=1))
        if n <= 0:
            continue
        proto = Protocol("", tuple(ds.city_ids), lo.tz_convert("UTC").isoformat(),
                         hi.tz_convert("UTC").isoformat(), 24)  # fmt: skip
        m = summarize(score(Forecaster.load(pkg / "model"), cfg, ds, proto))
        total += float(m["overall"]["mape"]) * n
        days += n
    return round(total / days, 3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--zones", type=int, default=3)
    p.add_argument("--weeks", type=int, default=8)
    p.add_argument("--trees", type=int, default=50)
    p.add_argument("--start", default="2008-05-04", help="first simulated day (local)")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "energy-bench")
    args = p.parse_args()
    zone = ZoneInfo("America/New_York")
    # 03:00 local: after that day's fires (the initial champion is that day's weekly run)
    t0 = datetime.fromisoformat(args.start).replace(hour=3, tzinfo=zone)
    t1 = t0 + timedelta(weeks=args.weeks)
    work = Path(tempfile.mkdtemp(prefix="bench-retrain-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    wall = time.perf_counter()
    ds = gefcom(args.cache, args.zones)
    log(f"{len(ds.city_ids)} zones, {t0:%Y-%m-%d} → {t1:%Y-%m-%d}, {args.trees} trees")
    sim = simulate(ds, t0, t1, args.trees, work)
    mape = {p: mean_mape(ds, c, t0, t1) for p, c in sim["champions"].items()}
    c = sim["counts"]["daily_weekly"]
    res = {
        "bench": "retraining",
        "zones": len(ds.city_ids),
        "weeks": args.weeks,
        "trees": args.trees,
        "runs_expected": c["runs_expected"],
        "runs_done": c["runs_done"],
        "duplicates": c["duplicates"],
        "missed": c["missed"],
        "promoted_weekly": sim["counts"]["weekly"]["promoted"],
        "promoted_daily_weekly": c["promoted"],
        "mape_static": mape["static"],
        "mape_weekly": mape["weekly"],
        "mape_daily_weekly": mape["daily_weekly"],
        "wall_s": round(time.perf_counter() - wall, 1),
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
