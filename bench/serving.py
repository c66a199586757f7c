"""Serving latency and throughput over loopback HTTP, next to the in-process ensemble call.

    python bench/serving.py --package /tmp/serve_model            # a package from `energy train`
    python bench/serving.py --package /tmp/serve_model --quick    # fewer requests (a smoke run)

What it measures (24 h single-city forecasts, the package's cities in turn):

* ``inprocess``: ``ModelPackage.forecast`` in this process, no cache: the cost of computing one
  forecast (the floor for a computed answer).
* the app as deployed (forecast cache on): the usual request (default start: the next hour) is
  answered from the replica's cache after the first time, so this is the HTTP + Serve floor.
* the same app with the cache off (``*_nocache``): every request computes its forecast.
* concurrency 1, 8 and 32 (threads with one keep-alive session each), p50 / p95 / p99 and
  requests/s; a 100-entry batch request; replica counts under load and after it (autoscaling).
* ``distinct_*``: every request a different start (nothing shared between requests, nothing
  memoised); ``rps_c32_nocache`` is this at concurrency 32 (the same-start figure is
  ``rps_c32_nocache_samestart``).

Figures: bench/figures/serving_latency.png, bench/figures/serving_autoscale.png. The last line is
one JSON object (p50_ms_c1, p99_ms_c1, rps_c8, rps_c32, batch100_ms, inprocess_ms, ...).
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

FIG = Path(__file__).parent / "figures"


def pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1000
    return {f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)}


def inprocess(package: str, n: int) -> dict[str, float]:
    import torch

    from energy.forecast.package import read_package

    torch.set_num_threads(1)
    pkg = read_package(package)
    cities = pkg.cities
    pkg.forecast([cities[0]])
    ts = []
    for i in range(n):
        t0 = time.perf_counter()
        pkg.forecast([cities[i % len(cities)]], horizon=24)
        ts.append(time.perf_counter() - t0)
    return pct(ts)


def load(url: str, bodies: list[dict[str, Any]], concurrency: int) -> dict[str, float]:
    """POST every body with ``concurrency`` threads; latency percentiles and requests/s."""
    sessions = threading.local()
    lat: list[float] = []
    errors = 0

    def one(body: dict[str, Any]) -> None:
        nonlocal errors
        s = getattr(sessions, "s", None)
        if s is None:
            s = sessions.s = requests.Session()
        t0 = time.perf_counter()
        r = s.post(f"{url}/v1/forecast", json=body, timeout=120)
        lat.append(time.perf_counter() - t0)
        errors += r.status_code != 200

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as ex:
        list(ex.map(one, bodies))
    wall = time.perf_counter() - t0
    return {**pct(lat), "rps": round(len(bodies) / wall, 1), "errors": errors}


def replicas(app: str) -> int:
    from ray import serve

    st = serve.status().applications[app].deployments["forecast"]
    return int(st.replica_states.get("RUNNING", 0))


def batch_package(out: Path, n_cities: int) -> Path:
    """A cpu-profile ensemble over ``n_cities`` synthetic cities, trained for one epoch: the same
    networks, features and tree budget as the real one, so the same inference cost (accuracy is
    not the point here). Built once and reused."""
    if (out / "package.json").is_file():
        return out
    from energy.config.experiment import load_config
    from energy.data.dataset import Dataset
    from energy.data.synthetic import generate
    from energy.forecast.package import write_package
    from energy.lifecycle.experiment import build_model, split_validation

    cfg = load_config("cpu")
    for kind in ("lstm", "transformer"):
        cfg.models[kind] = cfg.models[kind].model_copy(update={"epochs": 1})
    load, cities, events = generate(n_cities, 120, seed=1)
    data = Dataset(load, cities, events, manifest={"content_hash": f"bench-{n_cities}"})
    train, val = split_validation(data, cfg.ensemble.val_days)
    print(f"building a {n_cities}-city package for the batch measurement ...", flush=True)
    model = build_model(cfg).fit(train, val)
    return write_package(model, data, out, meta={"config_name": "cpu (1 epoch, bench)"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", required=True, help="model package directory (energy train)")
    ap.add_argument("--quick", action="store_true", help="fewer requests: a smoke run")
    ap.add_argument("--max-replicas", type=int, default=2)
    ap.add_argument(
        "--batch-package",
        help="package with >= 100 cities for the batch request (default: built once from "
        "synthetic cities under bench/out/serving_100)",
    )
    args = ap.parse_args()
    n = 40 if args.quick else 300
    import ray
    from ray import serve

    from energy.forecast.package import read_package
    from serve_app.app import ServeOptions, build_app, wait_ready

    floor = inprocess(args.package, 10 if args.quick else 50)
    print(f"in-process ModelPackage.forecast (24 h, 1 city, no cache): {floor}", flush=True)
    pkg = read_package(args.package)
    cities = pkg.cities
    ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, object_store_memory=200 * 1024**2)  # fmt: skip
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    url = f"http://127.0.0.1:{port}/b"
    default = [{"city_id": cities[i % len(cities)], "horizon_hours": 24} for i in range(n)]
    # every request a different forecast: starts stepping back hour by hour (no sharing at all)
    distinct = [
        {"city_id": c, "horizon_hours": 24, "start": (pkg.last_load_time(c) - pd.Timedelta(
            hours=i // len(cities))).isoformat()}
        for i in range(n) for c in [cities[i % len(cities)]]
    ]  # fmt: skip
    bpath = Path(
        args.batch_package or batch_package(Path(__file__).parent / "out/serving_100", 100)
    )
    bcities = read_package(bpath).cities[:100]
    batch = {"requests": [{"city_id": c} for c in bcities]}
    res: dict[str, Any] = {}
    timeline: list[tuple[float, str, int]] = []
    t_start = time.perf_counter()
    phases = [  # app name, settings, [(label, bodies, concurrency)], idle phase?
        ("cached", {}, [("c1", default, 1), ("c8", default * 2, 8), ("c32", default * 2, 32)],
         True),
        ("nocache", {"cache_size": 0},
         [("c1", default, 1), ("c8", default, 8), ("c32", default, 32),
          ("distinct_c1", distinct[: n // 2], 1), ("distinct_c8", distinct[: n // 2], 8),
          ("distinct_c32", distinct, 32)],
         True),
        ("nobatch", {"cache_size": 0, "max_batch_size": 1}, [("c8", default, 8)], False),
    ]  # fmt: skip
    for app, extra, runs, idle in phases:
        opts = ServeOptions(package=args.package, max_replicas=args.max_replicas,
                            downscale_delay_s=3.0, upscale_delay_s=1.0,
                            look_back_period_s=3.0, **extra)  # fmt: skip
        serve.run(build_app(opts), name=app, route_prefix="/b")
        assert wait_ready(url, 120), app
        stop = threading.Event()

        def watch(app: str = app, stop: threading.Event = stop) -> None:
            while not stop.wait(0.5):
                timeline.append((time.perf_counter() - t_start, app, replicas(app)))

        w = threading.Thread(target=watch, daemon=True)
        w.start()
        for label, bodies, c in runs:
            r = load(url, bodies, c)
            res[f"{app}_{label}"] = r
            print(f"{app:8s} {label:12s}: {r} (replicas {replicas(app)})", flush=True)
        if idle:  # sustained load: long enough for the autoscaler to act
            t_load, most = time.perf_counter(), 1
            while time.perf_counter() - t_load < (15 if args.quick else 30):
                load(url, default[:32], 16)
                most = max(most, replicas(app))
            print(f"{app:8s} sustained c16 for {time.perf_counter() - t_load:.0f} s: up to "
                  f"{most} replicas", flush=True)  # fmt: skip
        if idle:  # replicas back down once idle
            t_idle = time.perf_counter()
            while time.perf_counter() - t_idle < (15 if args.quick else 30):
                time.sleep(1.0)
            print(f"{app:8s} replicas after {time.perf_counter() - t_idle:.0f} s idle: "
                  f"{replicas(app)}", flush=True)  # fmt: skip
        stop.set()
        w.join()
        serve.delete(app)
    for app, extra in (("cached", {}), ("nocache", {"cache_size": 0})):  # 100 cities, one call
        opts = ServeOptions(package=str(bpath), max_replicas=1, **extra)
        serve.run(build_app(opts), name=f"batch_{app}", route_prefix="/b")
        assert wait_ready(url, 300), app
        ts = []
        for _ in range(3 if args.quick else 10):
            t0 = time.perf_counter()
            r = requests.post(f"{url}/v1/forecast/batch", json=batch, timeout=300)
            assert r.status_code == 200, r.text
            ts.append(time.perf_counter() - t0)
        res[f"{app}_batch100"] = pct(ts)
        print(f"{app:8s} batch of {len(bcities)} cities: {res[f'{app}_batch100']}", flush=True)
        serve.delete(f"batch_{app}")
    peak = {a: max((k for _, b, k in timeline if b == a), default=0) for a, *_ in phases}
    end = {a: ([k for _, b, k in timeline if b == a] or [0])[-1] for a, *_ in phases}
    print(f"replicas: peak under load {peak}, at the end {end}")
    serve.shutdown()
    ray.shutdown()
    plot(res, floor, timeline)
    out = {
        "p50_ms_c1": res["cached_c1"]["p50"], "p99_ms_c1": res["cached_c1"]["p99"],
        "rps_c8": res["cached_c8"]["rps"], "rps_c32": res["cached_c32"]["rps"],
        "batch100_ms": res["cached_batch100"]["p50"], "inprocess_ms": floor["p50"],
        "p50_ms_c1_nocache": res["nocache_c1"]["p50"],
        "p99_ms_c1_nocache": res["nocache_c1"]["p99"],
        # the target: concurrency 32, every request a different start (nothing shared)
        "rps_c8_nocache": res["nocache_c8"]["rps"],
        "rps_c32_nocache": res["nocache_distinct_c32"]["rps"],
        "rps_c32_nocache_samestart": res["nocache_c32"]["rps"],
        "p50_ms_c32_nocache": res["nocache_distinct_c32"]["p50"],
        "rps_c8_nocache_nobatch": res["nobatch_c8"]["rps"],
        "batch100_ms_nocache": res["nocache_batch100"]["p50"],
        "p50_ms_c1_distinct": res["nocache_distinct_c1"]["p50"],
        "rps_c8_distinct": res["nocache_distinct_c8"]["rps"],
        "replicas_peak": peak["nocache"], "replicas_after_idle": end["nocache"],
        "errors": sum(v.get("errors", 0) for v in res.values()), "cities": len(cities),
        "requests_c1": n,
    }  # fmt: skip
    print(json.dumps(out))


def plot(res: dict[str, Any], floor: dict[str, float], timeline: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    FIG.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    labels, p50, p99 = ["in-process"], [floor["p50"]], [floor["p99"]]
    for key in (
        "cached_c1",
        "cached_c8",
        "cached_c32",
        "nocache_c1",
        "nocache_c8",
        "nocache_c32",
        "nobatch_c8",
        "nocache_distinct_c1",
        "nocache_distinct_c8",
    ):
        if key in res:
            r = res[key]
            labels.append(key.replace("nocache_", "").replace("_", "\n"))
            p50.append(r["p50"])
            p99.append(r["p99"])
    x = np.arange(len(labels))
    ax.bar(x - 0.2, p50, 0.4, label="p50")
    ax.bar(x + 0.2, p99, 0.4, label="p99")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("ms")
    ax.set_yscale("log")
    ax.set_title("24 h single-city forecast over loopback HTTP (2 cores)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(FIG / "serving_latency.png", dpi=120)
    fig, ax = plt.subplots(figsize=(7, 3))
    for app in sorted({a for _, a, _ in timeline}):
        pts = [(t, k) for t, a, k in timeline if a == app]
        if pts:
            ax.step(*zip(*pts, strict=True), where="post", label=app)
    ax.set_xlabel("s since the first load phase")
    ax.set_ylabel("running replicas")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    fig.tight_layout()
    fig.savefig(FIG / "serving_autoscale.png", dpi=120)


if __name__ == "__main__":
    main()
