"""Distributed training on Ray: what Ray costs and what it buys, on GEFCom2012.

Data: ``data/gefcom2012`` (``energy data import``), else imported here from
``../shared/data/gefcom2012_load`` (20 US utility zones, MW, UTC). Every run trains on the hours
before 2008-03-01 00:00 UTC with March 2008 as validation. Five measurements:

1. **Ray overhead**: one zone's LSTM (``cpu`` profile sizes) for a fixed number of epochs (no
   early stopping) in-process vs through ``TorchTrainer`` with one worker, both on one torch
   thread. Target: ≤ 1.15× for a job of ≥ 120 s in-process (the default ``--epochs``).
2. **Fan-out scaling**: 8 zones of per-city XGBoost (``cpu`` profile, one thread each) on a local
   Ray limited to 1 CPU vs 2 CPUs. Target: ≥ 1.8× speed-up (needs 2 otherwise idle cores).
3. **Sharded XGBoost**: the global model on all zones, ``XGBoostTrainer`` with 2 workers over Ray
   Data shards vs single-process (2 threads), same rounds (no early stopping). Target: overhead
   ≤ 5 s + 10 %.
4. **Per-task overhead**: 200 trivial tasks with a one-zone argument (amortised ms per task on 2
   CPUs, warm workers), and 20 small zones (60 days, 30 trees) one per task vs packed.
5. **Peak memory**: driver and each worker process (peak RSS) of a 20-zone per-city fan-out.

Each timing is the median of ``--repeats`` runs; absolute times and ratios are printed, and the
last line is ONE JSON object (``ray_overhead_ratio``, ``fanout_speedup_2cpu``, ``xgb_sharded_s``,
``xgb_single_s``, ``peak_rss_mb``, ``task_overhead_ms`` and the absolute times). A plot goes to
``bench/figures/training_ray.png``.

Usage: ``python bench/training.py [--quick] [--repeats 3] [--epochs 8] [--only overhead,fanout,
packing,xgb,memory] [--data DIR]``. ``--quick`` shrinks every job (a smoke run: its figures
mean little).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from energy import schema
from energy.config.experiment import load_config
from energy.data.dataset import Dataset, read_dataset

os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")  # before any Ray starts
REPO = Path(__file__).resolve().parents[1]
TRAIN_END = pd.Timestamp("2008-03-01", tz="UTC")
VAL_END = pd.Timestamp("2008-04-01", tz="UTC")


def load_data(path: Path) -> Dataset:
    if (path / "manifest.json").is_file():
        return read_dataset(path)
    from energy.data.ingest import import_dataset

    return import_dataset("gefcom2012", REPO.parent / "shared" / "data" / "gefcom2012_load", path)


def split(ds: Dataset, cities: list[str], days: int | None = None) -> tuple[Dataset, Dataset]:
    """Train (before TRAIN_END; the last ``days`` days only when given) and March validation."""
    ds = ds.select(cities)
    t = ds.load[schema.TIME]
    lo = TRAIN_END - pd.Timedelta(days=days) if days else t.min()

    def part(mask: pd.Series) -> Dataset:
        return Dataset(load=ds.load[mask].reset_index(drop=True), cities=ds.cities,
                       events=ds.events, manifest=ds.manifest)  # fmt: skip

    return part((t >= lo) & (t < TRAIN_END)), part((t >= TRAIN_END) & (t < VAL_END))


STORAGE = str(REPO / "bench" / "out" / "ray_results")


def fit_time_on_ray(
    kind: str, cfg: dict, train: Any, val: Any, settings: Any, repeats: int, label: str
) -> float:
    """Median wall time of ``create(kind, cfg).fit`` through the Ray training backend, on a
    fresh 2-CPU local Ray instance."""
    from energy.distributed.backend import RayBackend
    from energy.models.backend import use_backend
    from energy.models.kinds import create

    ray = ray_instance(2)
    try:

        def on_ray() -> None:
            with use_backend(RayBackend(settings)):
                create(kind, cfg).fit(train, val)

        return median_time(on_ray, repeats, label)
    finally:
        ray.shutdown()


def median_time(fn: Callable[[], Any], repeats: int, label: str) -> float:
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        print(f"  {label} run {i + 1}/{repeats}: {times[-1]:.1f} s", flush=True)
    return statistics.median(times)


def ray_instance(num_cpus: int) -> Any:
    import ray

    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return ray


# ---- 1. Ray overhead --------------------------------------------------------------------------
def overhead(ds: Dataset, args: argparse.Namespace, out: dict[str, Any]) -> None:
    from energy.distributed import RaySettings
    from energy.models.kinds import create

    cfg = load_config("cpu").member_configs()["lstm"]
    cfg.update(epochs=args.epochs, patience=0, num_threads=1)
    if args.quick:
        cfg.update(max_train_windows_per_epoch=1024)
    train, val = split(ds, ds.city_ids[:1], days=None if not args.quick else 120)
    print(f"[overhead] LSTM, 1 zone, {args.epochs} epochs, "
          f"{cfg['max_train_windows_per_epoch']} windows/epoch", flush=True)  # fmt: skip
    local = median_time(lambda: create("lstm", cfg).fit(train, val), args.repeats, "in-process")
    remote = fit_time_on_ray("lstm", cfg, train, val, RaySettings(storage_path=STORAGE),
                             args.repeats, "TorchTrainer (1 worker)")  # fmt: skip
    out.update(lstm_inprocess_s=round(local, 2), lstm_torchtrainer_s=round(remote, 2),
               ray_overhead_s=round(remote - local, 2),
               ray_overhead_ratio=round(remote / local, 3))  # fmt: skip


# ---- 2. fan-out scaling -------------------------------------------------------------------------
def _xgb_spec(quick: bool, n_jobs: int = 1) -> Any:
    from energy.models.spec import ModelSpec

    cfg = load_config("cpu").member_configs()["xgboost"]
    cfg.update(n_jobs=n_jobs)
    if quick:
        cfg.update(n_estimators=30, strategy="shared")
    return ModelSpec(kind="xgboost", config=cfg)


def fanout(ds: Dataset, args: argparse.Namespace, out: dict[str, Any]) -> None:
    from energy.distributed import RaySettings
    from energy.distributed.fanout import train_cities

    n = 4 if args.quick else 8
    train, val = split(ds, ds.city_ids[:n], days=120 if args.quick else 365)
    spec = _xgb_spec(args.quick)
    wall = {}
    for cpus in (1, 2):
        ray = ray_instance(cpus)
        try:
            warm = ray.remote(num_cpus=1)(_import_and_wait)
            ray.get([warm.remote() for _ in range(cpus)])  # worker start-up is not the figure

            def run() -> None:
                res = train_cities(spec, train, val, RaySettings(), progress=lambda _: None)
                assert not res.failures, res.failures

            wall[cpus] = median_time(run, args.repeats, f"fan-out {n} zones, {cpus} CPU")
        finally:
            ray.shutdown()
    out.update(fanout_cities=n, fanout_1cpu_s=round(wall[1], 2), fanout_2cpu_s=round(wall[2], 2),
               fanout_speedup_2cpu=round(wall[1] / wall[2], 3))  # fmt: skip


def _import_and_wait() -> None:
    import energy.models.per_city
    import energy.models.xgb  # noqa: F401

    time.sleep(1.0)  # overlapping tasks land on distinct worker processes


def _rows_of(ds: Dataset) -> Iterator[int]:
    yield len(ds.load)


def packing(ds: Dataset, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """Per-task overhead: 20 small zones one per task vs packed (auto), 2 CPUs, warm workers."""
    from energy.distributed import RaySettings
    from energy.distributed.fanout import train_cities

    train, val = split(ds, ds.city_ids, days=60)
    spec = _xgb_spec(quick=True)  # ~0.1-0.3 s per zone: the many-small-cities case
    ray = ray_instance(2)
    wall, tasks = {}, {}
    try:
        warm = ray.remote(num_cpus=1)(_import_and_wait)
        ray.get([warm.remote() for _ in range(2)])
        # the bare cost of a task: a streaming task that only reads its one-zone argument
        one = train.select(train.city_ids[:1])
        probe = ray.remote(num_returns="streaming")(_rows_of)
        t0 = time.perf_counter()
        for gen in [probe.remote(one) for _ in range(200)]:
            ray.get(next(gen))
        out["task_overhead_ms"] = round((time.perf_counter() - t0) / 200 * 1000, 2)
        for label, per_task in (("one", 1), ("packed", None)):
            settings = RaySettings(cities_per_task=per_task)

            def run(settings: RaySettings = settings, label: str = label) -> None:
                res = train_cities(spec, train, val, settings, progress=lambda _: None)
                tasks[label] = res.n_tasks

            wall[label] = median_time(run, args.repeats, f"20 small zones, {label} per task")
    finally:
        ray.shutdown()
    out.update(
        fanout_one_per_task_s=round(wall["one"], 2),
        fanout_packed_s=round(wall["packed"], 2),
        packed_tasks=tasks["packed"],
    )


# ---- 3. sharded XGBoost -----------------------------------------------------------------------
def xgb(ds: Dataset, args: argparse.Namespace, out: dict[str, Any]) -> None:
    from energy.distributed import RaySettings
    from energy.models.kinds import create

    cfg = load_config("cpu").member_configs()["xgboost"]
    cfg.update(early_stopping_rounds=None, n_jobs=2)  # the same rounds on both sides
    if args.quick:
        cfg.update(n_estimators=30, strategy="shared")
    cities = ds.city_ids[:4] if args.quick else ds.city_ids
    train, val = split(ds, cities, days=120 if args.quick else None)
    single = median_time(lambda: create("xgboost", cfg).fit(train, val), args.repeats, "single")
    settings = RaySettings(num_workers=2, cpus_per_worker=1, storage_path=STORAGE)
    remote = fit_time_on_ray("xgboost", cfg, train, val, settings, args.repeats,
                             "XGBoostTrainer (2 workers)")  # fmt: skip
    out.update(xgb_single_s=round(single, 2), xgb_sharded_s=round(remote, 2),
               xgb_overhead_s=round(remote - single, 2),
               xgb_overhead_target_s=round(5 + 0.1 * single, 2))  # fmt: skip


# ---- 4. peak memory ---------------------------------------------------------------------------
def memory(ds: Dataset, args: argparse.Namespace, out: dict[str, Any]) -> None:
    from energy.distributed import RaySettings
    from energy.distributed.fanout import train_cities

    cities = ds.city_ids[:4] if args.quick else ds.city_ids
    train, val = split(ds, cities, days=120 if args.quick else 365)
    ray = ray_instance(2)
    peak, done = [0.0], threading.Event()

    def sample() -> None:  # the driver's RSS during this run (ru_maxrss is the process's life)
        me = psutil.Process()
        while not done.wait(0.1):
            peak[0] = max(peak[0], me.memory_info().rss / 2**20)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        res = train_cities(_xgb_spec(args.quick), train, val, RaySettings(), progress=print)
    finally:
        done.set()
        sampler.join()
        ray.shutdown()
    workers: dict[int, float] = {}
    for r in res.results:
        workers[r.pid] = max(workers.get(r.pid, 0.0), r.peak_rss_mb)
    out["peak_rss_mb"] = {
        "driver": round(peak[0], 1),
        "workers": {str(pid): round(mb, 1) for pid, mb in sorted(workers.items())},
        "worker_max": round(max(workers.values()), 1),
        "cities": len(cities),
    }


def plot(out: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = [
        ("LSTM, 1 zone", "lstm_inprocess_s", "lstm_torchtrainer_s", "in-process", "TorchTrainer"),
        (
            f"fan-out, {out.get('fanout_cities')} zones",
            "fanout_1cpu_s",
            "fanout_2cpu_s",
            "1 CPU",
            "2 CPUs",
        ),
        ("XGBoost, global", "xgb_single_s", "xgb_sharded_s", "single", "2 shards"),
    ]
    pairs = [p for p in pairs if p[1] in out]
    if not pairs:
        return
    fig, axes = plt.subplots(1, len(pairs), figsize=(4 * len(pairs), 3.2), squeeze=False)
    for ax, (title, a, b, la, lb) in zip(axes[0], pairs, strict=True):
        ax.bar([la, lb], [out[a], out[b]], color=["#888", "#2a6"])
        ax.set_title(title)
        ax.set_ylabel("wall time, s (median)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO / "data" / "gefcom2012")
    ap.add_argument("--quick", action="store_true", help="tiny jobs: a smoke run")
    ap.add_argument(
        "--repeats", type=int, default=None, help="runs per timing (default 3; 1 quick)"
    )
    ap.add_argument("--epochs", type=int, default=None, help="overhead: LSTM epochs (default 8)")
    ap.add_argument("--only", default="overhead,fanout,packing,xgb,memory")
    args = ap.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.epochs = args.epochs or (1 if args.quick else 8)
    ds = load_data(args.data)
    out: dict[str, Any] = {"quick": args.quick, "repeats": args.repeats, "cpus": os.cpu_count()}
    steps = {"overhead": overhead, "fanout": fanout, "packing": packing, "xgb": xgb,
             "memory": memory}  # fmt: skip
    for name in args.only.split(","):
        steps[name.strip()](ds, args, out)
        print(json.dumps({k: v for k, v in out.items() if k != "peak_rss_mb"}), flush=True)
    plot(out, REPO / "bench" / "figures" / ("training_ray_quick.png" if args.quick
                                              else "training_ray.png"))  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
