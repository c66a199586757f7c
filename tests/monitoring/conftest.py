"""Real parts for the monitoring tier: a SQLite (or ENERGY_TEST_PG_URL PostgreSQL) store and a
local HTTP webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from energy.monitoring.store import Base, Store, open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store: SQLite in tmp_path; PostgreSQL when ENERGY_TEST_PG_URL is set."""
    if request.param == "sqlite":
        yield open_store(f"sqlite:///{tmp_path / 'monitor.db'}", lock_timeout_s=0.2)
        return
    url = os.environ.get("ENERGY_TEST_PG_URL")
    if not url:
        pytest.skip("ENERGY_TEST_PG_URL not set (a PostgreSQL server for this tier)")
    s = open_store(url)
    yield s
    with s.engine.begin() as conn:  # leave the server as found
        for t in reversed(Base.metadata.sorted_tables):
            conn.execute(t.delete())


class Receiver:
    """Collects POSTed bodies; ``wait(n)`` blocks until n arrived (no sleeps in tests)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._cv = threading.Condition()

    def add(self, body: dict[str, Any]) -> None:
        with self._cv:
            self.bodies.append(body)
            self._cv.notify_all()

    def wait(self, n: int, timeout: float = 20.0) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: len(self.bodies) >= n, timeout)


@pytest.fixture
def webhook() -> Iterator[tuple[str, Receiver]]:
    """``(base_url, receiver)`` of an HTTP server on 127.0.0.1 (random port)."""
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n)
            try:
                got.add(json.loads(raw))
            except ValueError:
                got.add({"raw": raw.decode(errors="replace")})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", got
    server.shutdown()
    server.server_close()
