"""Monitoring through the real Serve app: served forecasts land in a real SQLite store, actuals
come in over HTTP, the summary scores them, and a locked store fails no request."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from energy.monitoring.store import open_store
from serve_app.app import ServeOptions, build_app, wait_ready

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("monitor") / "monitor.db"


@pytest.fixture(scope="module")
def api(serve_url: str, tiny_package: Path, db: Path) -> str:
    from ray import serve

    opts = ServeOptions(
        package=str(tiny_package), max_replicas=1, num_cpus=0.5, monitor_db=f"sqlite:///{db}"
    )
    serve.run(build_app(opts), name="mon", route_prefix="/mon")
    assert wait_ready(f"{serve_url}/mon", timeout_s=60)
    return f"{serve_url}/mon"


def served_rows(db: Path) -> int:
    store = open_store(f"sqlite:///{db}")
    return store.counts()["served_forecasts"]


def wait_rows(db: Path, n: int, timeout_s: float = 60) -> int:
    """Poll the store until the replica's logger wrote ``n`` rows (it writes in the background)."""
    end = time.monotonic() + timeout_s
    while (got := served_rows(db)) < n and time.monotonic() < end:
        time.sleep(0.2)
    return got


def post(url: str, path: str, body: Any) -> requests.Response:
    return requests.post(url + path, json=body, timeout=60)


def test_forecasts_logged_actuals_scored(api: str, db: Path) -> None:
    r = post(api, "/v1/forecast", {"city_id": "syn-001", "horizon_hours": 24})
    assert r.status_code == 200, r.text
    points = r.json()["points"]
    assert wait_rows(db, 24) >= 24
    actuals = [
        {"city_id": "syn-001", "timestamp": p["timestamp"], "load_mw": p["forecast_mw"] * 1.1}
        for p in points
    ]
    got = post(api, "/v1/actuals", {"actuals": actuals})
    assert got.status_code == 200, got.text
    assert got.json()["inserted"] == 24
    again = post(api, "/v1/actuals", {"actuals": actuals[:2]}).json()
    assert (again["inserted"], again["unchanged"]) == (0, 2)
    s = requests.get(api + "/v1/monitor/summary", params={"since": "5000d"}, timeout=60)
    assert s.status_code == 200, s.text
    body = s.json()
    row = next(x for x in body["accuracy"]["by_city"] if x["city_id"] == "syn-001")
    assert row["mape"] == pytest.approx(100 / 11, rel=1e-3) and row["n"] >= 24
    assert body["replica_logger"]["dropped"] == 0


def test_monitoring_errors_are_4xx_json(api: str) -> None:
    row = {"city_id": "a", "timestamp": "2024-01-01T00:30:00Z", "load_mw": 1.0}
    bad = post(api, "/v1/actuals", {"actuals": [row]})
    assert bad.status_code == 422 and bad.json()["field"] == "actuals"
    assert "not on the hour" in bad.json()["error"]
    neg = post(api, "/v1/actuals", {"actuals": []})
    assert neg.status_code == 422
    s = requests.get(api + "/v1/monitor/summary", params={"since": "soon"}, timeout=60)
    assert s.status_code == 422 and s.json()["field"] == "since"


def test_store_locked_mid_traffic_fails_no_request(api: str, db: Path) -> None:
    before = wait_rows(db, 1)
    lock = sqlite3.connect(db, timeout=1)
    lock.execute("BEGIN EXCLUSIVE")  # another writer holds the store: the replica cannot write
    try:
        codes = []
        for h in range(1, 13):  # every request a different horizon: 1 + 2 + ... + 12 hours
            r = post(api, "/v1/forecast", {"city_id": "syn-000", "horizon_hours": h})
            codes.append(r.status_code)
        assert codes == [200] * 12
    finally:
        lock.rollback()
        lock.close()
    assert wait_rows(db, before + 78) == before + 78  # queued, written once it is back
