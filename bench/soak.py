"""Soak: a Serve app under mixed load for minutes while a replica and the controller are killed.

    python bench/soak.py                       # 10 minutes, concurrency 32, a tiny ensemble
    python bench/soak.py --minutes 3 --package /tmp/serve_model

It starts its own local Ray (127.0.0.1, no dashboard) and Serve on a free port, deploys the app
with two replicas, and runs ``--concurrency`` client threads (one keep-alive session each) for
``--minutes``. Each request is, at random:

* 60 % a valid single forecast (a city and a start up to 5 days back, within the history the
  package keeps: cache hits and computed answers mixed),
* 15 % a valid batch of three cities,
* 25 % an invalid request (unknown city, horizon 0, a start in year 3000, a missing field, a
  body that is not JSON, a batch with one bad entry): each must be a 4xx.

A 429 (admission limit) is honoured as a client should: wait ``Retry-After`` (at most 1 s) and
send again; a valid request fails only when its final answer is not a 200. At 35 % of the run one
replica is killed (``ray.kill``, no restart: Serve starts a new one); at 65 % the Serve
controller is killed (Ray restarts it). Both are found by name in this session's own Ray.

Memory: the resident set of the Serve processes of this session (replicas, proxy), sampled every
5 s; ``rss_growth_pct`` compares, for the processes alive both after the warm-up (10 % of the run)
and at the end, their summed RSS (the killed replica drops out, its successor is reported apart).

The last line is one JSON object: ``soak_failed_valid`` (target 0), ``soak_5xx`` (0),
``rss_growth_pct`` (≤ 10), ``soak_rps``, and the counts behind them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import requests

SERVE_TITLES = ("ServeReplica", "ProxyActor")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tiny_package(out: Path) -> Path:
    """The serve tier's tiny XGBoost + LSTM + Transformer ensemble on three synthetic cities."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "serve"))
    from tiny_packages import build_package, synthetic

    return build_package(out, synthetic())


class Mix:
    """Random requests: ``(kind, path, body or raw bytes, valid)``."""

    def __init__(self, cities: list[str], last: dict[str, pd.Timestamp], seed: int) -> None:
        self.cities, self.last, self.rng = cities, last, random.Random(seed)

    def single(self) -> dict[str, Any]:
        c = self.rng.choice(self.cities)
        start = self.last[c] - pd.Timedelta(hours=self.rng.randrange(0, 120))
        return {"city_id": c, "horizon_hours": 24, "start": start.isoformat()}

    def next(self) -> tuple[str, str, Any, bool]:
        r = self.rng.random()
        if r < 0.60:
            return "single", "/v1/forecast", self.single(), True
        if r < 0.75:
            return (
                "batch",
                "/v1/forecast/batch",
                {"requests": [self.single() for _ in range(3)]},
                True,
            )
        bad: list[tuple[str, Any]] = [
            ("/v1/forecast", {"city_id": "no-such-city"}),
            ("/v1/forecast", {"city_id": self.cities[0], "horizon_hours": 0}),
            ("/v1/forecast", {"city_id": self.cities[0], "start": "3000-01-01T00:00:00Z"}),
            ("/v1/forecast", {"horizon_hours": 24}),
            ("/v1/forecast", b"{not json"),
            ("/v1/forecast/batch", {"requests": [self.single(), {"city_id": "nowhere"}]}),
        ]
        path, body = self.rng.choice(bad)
        return "invalid", path, body, False


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: Counter[str] = Counter()  # "<kind>:<status>" of every answer (retries too)
        self.failed_valid = self.invalid_accepted = self.fivexx = self.sent = self.retries = 0
        self.examples: list[str] = []
        self.errors: list[str] = []  # the first 5xx answers of each kind, with their bodies

    def note(self, kind: str, status: int, text: str) -> None:
        with self.lock:
            self.codes[f"{kind}:{status}"] += 1
            self.fivexx += status >= 500
            seen = self.codes[f"{kind}:{status}"]
            if status >= 500 and seen <= 3:  # the first three of each kind and status
                self.errors.append(f"{time.strftime('%H:%M:%S')} {kind} {status} {text[:300]}")


def client(url: str, mix: Mix, stats: Stats, stop: threading.Event) -> None:
    s = requests.Session()
    while not stop.is_set():
        kind, path, body, valid = mix.next()
        final = 0
        for _attempt in range(20):
            try:
                if isinstance(body, bytes):
                    r = s.post(url + path, data=body, timeout=60,
                               headers={"content-type": "application/json"})  # fmt: skip
                else:
                    r = s.post(url + path, json=body, timeout=60)
                final, text = r.status_code, r.text
            except requests.RequestException as e:  # no answer at all: a failure, never retried
                final, text = 599, type(e).__name__
            stats.note(kind, final, text)
            if final != 429:
                break
            with stats.lock:
                stats.retries += 1
            time.sleep(min(float(r.headers.get("retry-after", 1) or 1), 1.0))
        with stats.lock:
            stats.sent += 1
            if valid and final != 200:
                stats.failed_valid += 1
                if len(stats.examples) < 5:
                    stats.examples.append(f"valid {kind} answered {final}: {text[:200]}")
            if not valid and (final == 200 or final >= 500):
                stats.invalid_accepted += final == 200


def serve_processes() -> dict[int, tuple[str, int]]:
    """``{pid: (title, rss bytes)}`` of this session's Serve replicas and proxy (descendants of
    this process: the Ray this script started, never another one on the machine)."""
    out = {}
    for p in psutil.Process(os.getpid()).children(recursive=True):
        try:
            title = " ".join(p.cmdline())
            if any(t in title for t in SERVE_TITLES):
                out[p.pid] = (title.split()[0], p.memory_info().rss)
        except psutil.Error:
            continue
    return out


def kill_one_replica(app: str) -> str:
    import ray

    names = [a for a in ray.util.list_named_actors(all_namespaces=True)
             if "SERVE_REPLICA" in a["name"] and f"{app}" in a["name"]]  # fmt: skip
    victim = sorted(names, key=lambda a: a["name"])[0]
    ray.kill(ray.get_actor(victim["name"], namespace=victim["namespace"]), no_restart=True)
    return str(victim["name"])


def kill_controller() -> None:
    import ray
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    ctrl = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    ray.kill(ctrl, no_restart=False)  # detached, max_restarts=-1: Ray restarts it


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--package", help="model package (default: a tiny ensemble built here)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throw-away local Ray on 127.0.0.1
    import ray
    from ray import serve

    from energy.forecast import read_package
    from serve_app.app import ServeOptions, build_app, wait_ready

    package = args.package or str(tiny_package(Path(tempfile.mkdtemp(prefix="soak-")) / "pkg"))
    pkg = read_package(package)
    last = {c: pkg.last_load_time(c) for c in pkg.cities}
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, object_store_memory=200 * 1024**2)  # fmt: skip
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    app = "soak"
    opts = ServeOptions(package=package, min_replicas=2, max_replicas=2, num_cpus=0.5)
    serve.run(build_app(opts), name=app, route_prefix="/s")
    url = f"http://127.0.0.1:{port}/s"
    assert wait_ready(url, 300), "the app did not become ready"
    print(f"soak: {args.minutes} min, concurrency {args.concurrency}, cities {pkg.cities}",
          flush=True)  # fmt: skip

    stats, stop = Stats(), threading.Event()
    threads = [
        threading.Thread(target=client, args=(url, Mix(pkg.cities, last, args.seed + i), stats,
                                              stop), daemon=True)
        for i in range(args.concurrency)
    ]  # fmt: skip
    total = args.minutes * 60
    t0 = time.monotonic()
    for t in threads:
        t.start()
    events = [(0.10 * total, "baseline"), (0.35 * total, "kill replica"),
              (0.65 * total, "kill controller")]  # fmt: skip
    baseline: dict[int, tuple[str, int]] = {}
    while (elapsed := time.monotonic() - t0) < total:
        if events and elapsed >= events[0][0]:
            _, what = events.pop(0)
            if what == "baseline":
                baseline = serve_processes()
                detail = (
                    f"{len(baseline)} processes, {sum(v[1] for v in baseline.values()) >> 20} MiB"
                )
            elif what == "kill replica":
                detail = kill_one_replica(app)
            else:
                kill_controller()
                detail = "restarting"
            print(f"[{elapsed:6.0f} s] {what}: {detail}; sent {stats.sent}", flush=True)
        time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(timeout=90)
    wall = time.monotonic() - t0
    end = serve_processes()
    kept = [pid for pid in baseline if pid in end]
    before = sum(baseline[p][1] for p in kept)
    after = sum(end[p][1] for p in kept)
    ready = requests.get(f"{url}/readyz", timeout=30).status_code
    serve.shutdown()
    ray.shutdown()
    growth = 100.0 * (after - before) / before if before else float("nan")
    for line in stats.examples + stats.errors:
        print("  e.g.", line)
    print("answers:", dict(sorted(stats.codes.items())))
    out = {
        "soak_failed_valid": stats.failed_valid,
        "soak_5xx": stats.fivexx,
        "rss_growth_pct": round(growth, 2),
        "soak_rps": round(stats.sent / wall, 1),
        "requests": stats.sent,
        "retries_429": stats.retries,
        "invalid_answered_200": stats.invalid_accepted,
        "rss_mib_kept_before": before >> 20,
        "rss_mib_kept_after": after >> 20,
        "rss_mib_new_processes": sum(v[1] for p, v in end.items() if p not in baseline) >> 20,
        "ready_at_end": ready == 200,
        "minutes": args.minutes,
        "concurrency": args.concurrency,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
