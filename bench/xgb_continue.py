"""Benchmark: refreshing the trees daily — refit on the last 7 days, or continue boosting?

The daily retraining job refreshes the XGBoost member on the last 7 days of actuals. Two ways:

* **refit**: a new model fitted on the 7-day window (the lookback before it for lags);
* **continue**: the weekly champion (fitted on 90 days) keeps its feature pipelines and trees,
  and ``--rounds`` more boosting rounds are added on the 7-day window (``xgb.train(...,
  xgb_model=booster)`` per step group).

Each simulated day of ``--weeks`` weeks on GEFCom2012, the champion of that week (refitted each
Sunday on 90 days), the refit and the continued model forecast the next day (origin local
midnight); the bench prints the mean MAPE of each. Run::

    PYTHONPATH=. .venv/bin/python bench/xgb_continue.py --zones 3 --weeks 4

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import xgboost as xgb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def log(msg: str) -> None:
    print(f"[xgb_continue {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def until(ds: Any, end: pd.Timestamp, days: int, lookback_h: int) -> Any:
    from energy import schema
    from energy.data.dataset import Dataset

    t = ds.load[schema.TIME]
    lo = end - pd.Timedelta(days=days) - pd.Timedelta(hours=lookback_h)
    load = ds.load[(t >= lo) & (t < end)].reset_index(drop=True)
    return Dataset(load=load, cities=ds.cities, events=ds.events, manifest=ds.manifest)


def continued(champion: Any, window: Any, rounds: int) -> Any:
    """A copy of ``champion`` with ``rounds`` more trees per group, boosted on ``window``."""
    m = copy.deepcopy(champion)
    # every row of the window trains (no tail held out for early stopping: rounds are fixed)
    m.config = m.config.model_copy(update={"early_stopping_rounds": None})
    bp = m.booster_params()
    boosters = []
    for pipe, booster in zip(m.pipelines_, m.boosters_, strict=True):
        rows = m._rows(pipe, window, None)  # the champion's fitted features on the new rows
        d = xgb.DMatrix(rows.x, rows.y, feature_names=rows.feature_names, nthread=bp.nthread)
        boosters.append(
            xgb.train(
                {**bp.params, "nthread": bp.nthread},
                d,
                num_boost_round=rounds,
                xgb_model=booster,
                verbose_eval=False,
            )
        )
    m.boosters_ = boosters
    return m


def main() -> None:
    from retraining import gefcom

    from energy.config.experiment import ExperimentConfig
    from energy.lifecycle.experiment import build_model, split_validation
    from energy.lifecycle.promotion import Protocol, score, summarize
    from energy.lifecycle.retrain import lookback_hours

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--zones", type=int, default=3)
    p.add_argument("--weeks", type=int, default=4)
    p.add_argument("--trees", type=int, default=50)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--start", default="2008-05-04")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "energy-bench")
    args = p.parse_args()
    wall = time.perf_counter()
    ds = gefcom(args.cache, args.zones)
    cfg = ExperimentConfig.model_validate(
        {"features": {"horizon": 24, "lags": [24, 48, 168]},
         "models": {"xgboost": {"n_estimators": args.trees, "n_jobs": 1}},
         "ensemble": {"val_days": 7}, "baselines": []}
    )  # fmt: skip
    small = cfg.model_copy(update={"ensemble": cfg.ensemble.model_copy(update={"val_days": 1})})
    look = lookback_hours(cfg)
    zone = ds.timezone_of(ds.city_ids[0])
    start = pd.Timestamp(args.start, tz=zone)
    mape: dict[str, list[float]] = {"champion": [], "refit": [], "continue": []}
    champion = None
    for day in range(7 * args.weeks):
        origin = start + pd.Timedelta(days=day)  # local midnight; actuals before it are known
        if day % 7 == 0:
            champion = build_model(cfg, "xgboost").fit(
                *split_validation(until(ds, origin, 90, look), 7)
            )
        window = until(ds, origin, 7, look)
        refit = build_model(small, "xgboost").fit(*split_validation(window, 1))
        cont = continued(champion, window, args.rounds)
        nxt = origin + pd.Timedelta(days=1)
        proto = Protocol("", tuple(ds.city_ids), origin.tz_convert("UTC").isoformat(),
                         nxt.tz_convert("UTC").isoformat(), 24)  # fmt: skip
        for name, m in (("champion", champion), ("refit", refit), ("continue", cont)):
            mape[name].append(float(summarize(score(m, cfg, ds, proto))["overall"]["mape"]))
        log(f"{origin:%Y-%m-%d}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in mape.items()))
    res = {
        "bench": "xgb_continue",
        "zones": args.zones,
        "days": 7 * args.weeks,
        "trees": args.trees,
        "rounds": args.rounds,
        **{f"mape_{k}": round(sum(v) / len(v), 3) for k, v in mape.items()},
        "continue_beats_champion_days": sum(
            c < h for c, h in zip(mape["continue"], mape["champion"], strict=True)
        ),
        "refit_beats_champion_days": sum(
            r < h for r, h in zip(mape["refit"], mape["champion"], strict=True)
        ),
        "wall_s": round(time.perf_counter() - wall, 1),
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
