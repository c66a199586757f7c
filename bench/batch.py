"""Batch inference with Ray Data: 1,000 cities × 24 h on 1 and on 2 CPUs.

    python bench/batch.py                    # builds the package once under bench/out/batch_1000
    python bench/batch.py --cities 200       # a smaller smoke run

The package: the ``cpu`` profile ensemble (XGBoost per step group + LSTM + Transformer: the
served architecture and inference cost; networks trained for one epoch) fitted on 20 synthetic
cities with cold start allowed (``allow_unseen_cities``), holding the history of ``--cities``
synthetic cities. Accuracy is not the point and is never claimed on these cities.

Each run is :func:`energy.distributed.batch.score_package` (``energy forecast``) on a fresh local
Ray instance with 1 or 2 CPUs and one actor per CPU; wall time includes Ray and actor start-up.
The last line is one JSON object (``batch1000_s``, ``batch_speedup_2cpu``, rows/s, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"


def build_package(out: Path, n_cities: int, train_cities: int = 20) -> Path:
    """The ensemble fitted on ``train_cities`` synthetic cities, packaged with ``n_cities``."""
    if (out / "package.json").is_file():
        return out
    from energy.config.experiment import load_config
    from energy.data.dataset import Dataset
    from energy.data.synthetic import generate
    from energy.forecast import write_package
    from energy.lifecycle.experiment import split_validation
    from energy.models import kinds as registry

    cfg = load_config("cpu")
    ens = cfg.ensemble_config()
    for name, member in ens["members"].items():
        c = member["config"]
        c["features"] = {**c.get("features", {}), "allow_unseen_cities": True}
        if name in ("lstm", "transformer"):
            c.update(epochs=1, max_train_windows_per_epoch=2048)
    load, cities, events = generate(n_cities, 60, seed=3)
    data = Dataset(load, cities, events, manifest={"content_hash": f"bench-batch-{n_cities}"})
    train = data.select(data.city_ids[:train_cities])
    print(f"building the {n_cities}-city package (fit on {train_cities} cities) ...", flush=True)
    model = registry.create("ensemble", ens).fit(*split_validation(train, cfg.ensemble.val_days))
    return write_package(model, data, out, meta={"config_name": "cpu (1 epoch, bench batch)"})


def run(package: Path, cpus: int, batch_size: int) -> dict[str, float]:
    from energy.distributed import ray_session
    from energy.distributed.batch import score_package
    from energy.forecast import read_package

    cities = read_package(package).cities
    t0 = time.perf_counter()
    with ray_session("local", num_cpus=cpus, dashboard=False, log_to_driver=False):
        t_ray = time.perf_counter() - t0
        r = score_package(
            package, cities, OUT / f"batch_{cpus}cpu.parquet", horizon=24,
            batch_size=batch_size, actors=cpus, progress=False,
        )  # fmt: skip
    out = {
        "cpus": cpus, "rows": r.rows, "ray_start_s": round(t_ray, 2),
        "score_s": round(r.seconds, 2), "total_s": round(t_ray + r.seconds, 2),
        "rows_per_s": round(r.rows / (t_ray + r.seconds), 1),
        "steady_rows_per_s": round(r.steady_rows_per_s, 1), "first_block_s": round(r.first_s, 2),
    }  # fmt: skip
    print(f"{cpus} CPU(s): {out}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cities", type=int, default=1000)
    ap.add_argument("--package", help="package with the cities to score (default: built once)")
    ap.add_argument("--batch-size", type=int, default=50, help="cities per model call")
    args = ap.parse_args()
    pkg = Path(args.package or build_package(OUT / f"batch_{args.cities}", args.cities))
    load = os.getloadavg()
    one, two = run(pkg, 1, args.batch_size), run(pkg, 2, args.batch_size)
    res = {
        "batch1000_s": two["total_s"], "batch1000_s_1cpu": one["total_s"],
        "rows_per_s_1cpu": one["rows_per_s"], "rows_per_s_2cpu": two["rows_per_s"],
        "batch_speedup_2cpu": round(two["rows_per_s"] / one["rows_per_s"], 2),
        "steady_rows_per_s_1cpu": one["steady_rows_per_s"],
        "steady_rows_per_s_2cpu": two["steady_rows_per_s"],
        "steady_speedup_2cpu": round(two["steady_rows_per_s"] / one["steady_rows_per_s"], 2),
        "cities": args.cities, "rows": two["rows"], "batch_size": args.batch_size,
        "loadavg_1m_start": round(load[0], 2), "loadavg_1m_end": round(os.getloadavg()[0], 2),
    }  # fmt: skip
    print(json.dumps(res))


if __name__ == "__main__":
    main()
