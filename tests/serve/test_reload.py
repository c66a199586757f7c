"""Hot reload from the registry mid-traffic, and a replica killed under load: no failed request.

Real MLflow store (the session's SQLite one, tests/conftest.py), real Serve with two replicas.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from tiny_packages import BASELINE_ENSEMBLE, build_package, synthetic

from energy import tracking
from serve_app.app import ServeOptions, build_app, wait_ready

pytestmark = pytest.mark.serve
NAME = f"serve-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def registry_app(serve_url: str, tiny_package: Path) -> str:
    """The app following ``models:/NAME@champion`` (version 1 = the tiny ensemble), 2 replicas."""
    from ray import serve

    v1 = tracking.register_package(tiny_package, name=NAME, tags={"test": "serve"})
    tracking.set_alias(NAME, "champion", v1)
    opts = ServeOptions(
        model_name=NAME, tracking_uri=tracking.tracking_uri(), poll_s=0.5,
        min_replicas=2, max_replicas=2, num_cpus=0.5,
    )  # fmt: skip
    serve.run(build_app(opts), name="reg", route_prefix="/reg")
    url = f"{serve_url}/reg"
    assert wait_ready(url, timeout_s=60)
    return url


def _load(url: str, stop: Callable[[], bool], log: list, retries: int = 0) -> None:
    """Send forecasts (cached and computed ones) until ``stop()``; log (status, version)."""
    i = 0
    while not stop():
        i += 1
        body = {"city_id": f"syn-00{i % 3}", "horizon_hours": 1 + i % 24}
        for attempt in range(retries + 1):
            try:
                r = requests.post(f"{url}/v1/forecast", json=body, timeout=60)
                status = r.status_code
            except requests.RequestException:
                status = -1
            if status == 200 or attempt == retries:
                break
            time.sleep(0.2)
        version = r.json()["model"]["version"] if status == 200 else None
        log.append((status, version, attempt))


def test_champion_moves_mid_traffic_without_failed_requests(
    registry_app: str, tmp_path: Path
) -> None:
    v2_pkg = build_package(tmp_path / "v2", synthetic(), BASELINE_ENSEMBLE, name="baselines")
    log: list = []
    done = threading.Event()
    threads = [
        threading.Thread(target=_load, args=(registry_app, done.is_set, log)) for _ in range(3)
    ]
    for t in threads:
        t.start()
    time.sleep(1.0)
    v2 = tracking.register_package(v2_pkg, name=NAME, tags={"test": "serve"})
    tracking.set_alias(NAME, "champion", v2)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # until both replicas answer with v2
        recent = [v for _, v, _ in log[-20:]]
        if len(recent) == 20 and set(recent) == {v2}:
            break
        time.sleep(0.2)
    done.set()
    for t in threads:
        t.join()
    statuses = Counter(s for s, _, _ in log)
    versions = Counter(v for _, v, _ in log)
    assert statuses == {200: len(log)}, statuses
    assert versions["1"] > 0 and versions[v2] > 0, versions
    assert {v for _, v, _ in log[-20:]} == {v2}
    info = requests.get(f"{registry_app}/v1/model", timeout=30).json()
    assert info["version"] == v2 and info["source"] == "registry" and info["kind"] == "ensemble"


def test_a_replica_killed_under_load_fails_no_request(registry_app: str) -> None:
    import ray

    replicas = [
        a for a in ray.util.list_named_actors(all_namespaces=True)
        if "SERVE_REPLICA" in a["name"] and "reg" in a["name"]
    ]  # fmt: skip
    assert len(replicas) == 2, replicas
    sent = 160
    parts: list[list] = [[], [], [], []]

    def enough() -> bool:
        return sum(len(p) for p in parts) >= sent

    threads = [threading.Thread(target=_load, args=(registry_app, enough, p, 5)) for p in parts]
    for t in threads:
        t.start()
    while sum(len(p) for p in parts) < 20:
        time.sleep(0.05)
    victim = ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"])
    ray.kill(victim, no_restart=True)  # the replica's worker process dies
    for t in threads:
        t.join()
    log = [x for p in parts for x in p]
    assert len(log) >= sent
    failed = [x for x in log if x[0] != 200]
    assert not failed, failed[:5]
    assert requests.get(f"{registry_app}/readyz", timeout=30).status_code == 200
