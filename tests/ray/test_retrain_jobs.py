"""Scheduled retraining against a real local Ray job API (dashboard on a free loopback port):
one submission id twice gives one job; a scheduler restarted while its job runs does not submit
it again; a failing job is retried once, then a local webhook receives the job id and log tail.

The jobs are tiny shell commands (the retraining job itself is tested in tests/unit and
tests/mlflow); a running job waits for a file the test creates, so nothing sleeps to sync.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
import yaml

from energy.distributed.retrain_jobs import JobRunner, run_slot
from energy.lifecycle.notify import webhook

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    import ray

    # a test-only instance on loopback: token auth off so the SDK client needs no token file
    # (real clusters keep auth on: NOTES.md); restored afterwards
    old = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    _reset_auth()  # this process cached the mode of an earlier ray.init
    os.environ.pop("RAY_ADDRESS", None)  # left by an earlier module's backend: not this instance
    port = _free_port()  # never 8265: other Ray users on the machine
    ray.init(
        address="local", num_cpus=1, include_dashboard=True, dashboard_host="127.0.0.1",
        dashboard_port=port, object_store_memory=100 * 1024**2, log_to_driver=False,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = old
        _reset_auth()  # or every later ray.init in this process waits forever for its GCS


def _reset_auth() -> None:
    """Make Ray re-read the auth mode and token from the environment (Ray 2.60 caches both per
    process; its own tests reset them the same way)."""
    from ray._private.authentication_test_utils import reset_auth_token_state

    reset_auth_token_state()


def _runner(address: str) -> JobRunner:
    """A runner whose first call waits for the job agent (it starts after the dashboard)."""
    r = JobRunner(address, poll_s=0.2)
    deadline = time.monotonic() + 120
    while True:
        try:
            r.client.list_jobs()
            return r
        except (ConnectionError, RuntimeError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)  # the dashboard is still starting


def _py(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


def _wait_for(pred: Any, what: str, within_s: float = 120) -> None:
    deadline = time.monotonic() + within_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _jobs_with(runner: JobRunner, prefix: str) -> list[str]:
    return sorted(
        j.submission_id
        for j in runner.client.list_jobs()
        if (j.submission_id or "").startswith(prefix)
    )


def test_same_submission_id_twice_gives_one_job(address):
    r = _runner(address)
    sid = f"retrain-daily-{uuid.uuid4().hex[:8]}"
    assert r.submit_once(sid, _py("print('once')")) is True
    assert r.submit_once(sid, _py("print('twice')")) is False
    with pytest.raises(RuntimeError, match="already exists"):  # Ray itself refuses it too
        r.client.submit_job(entrypoint=_py("print('thrice')"), submission_id=sid)
    assert r.wait(sid, timeout_s=120) == "SUCCEEDED"
    assert _jobs_with(r, sid) == [sid] and "once" in r.log_tail(sid)


def test_restarted_daemon_does_not_resubmit_a_running_slot(address, tmp_path, monkeypatch):
    from energy.distributed.scheduler import Daemon, RunnerSettings, run_schedule
    from energy.lifecycle.schedules import last_fire, load_schedules, slot_id

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    release = tmp_path / "release"
    started = tmp_path / "started"
    sched = tmp_path / "schedules.yaml"
    sched.write_text(yaml.safe_dump({
        "timezone": "America/New_York",
        "schedules": [{"name": "daily", "mode": "daily", "cron": "0 2 * * *"}],
        "job": {"retries": 1, "backoff_s": 0},
    }))  # fmt: skip
    code = (
        "import pathlib, time\n"
        f"pathlib.Path({str(started)!r}).touch()\n"
        f"while not pathlib.Path({str(release)!r}).exists(): time.sleep(0.1)\n"
        "print('trained {slot}')"
    )
    rs = RunnerSettings(schedules=str(sched), address=address, entrypoint=_py(code))
    r = _runner(address)
    s = load_schedules(sched).get("daily")
    slot = slot_id(s, last_fire(s, datetime.now(UTC)))

    first = Daemon(rs, state=tmp_path / "state")
    sch = first.start()
    sch.modify_job("daily", next_run_time=datetime.now(UTC))  # fire the current slot now
    _wait_for(started.exists, "the slot's job to start")
    assert r.status(slot) == "RUNNING"
    first.shutdown()  # the daemon goes away mid-job

    second = Daemon(rs, state=tmp_path / "state")  # same job store
    second.start()
    try:
        nxt = second.next_runs()["daily"]
        assert nxt is not None and nxt > datetime.now(UTC)  # the fired slot is not due again
        # the restarted daemon follows the running slot (its retry and notification) ...
        release.touch()
        job, res = second.finished.get(timeout=120)
        assert job == "resume-daily"
        assert (res.slot, res.status, res.submitted) == (slot, "SUCCEEDED", 0)
        # ... and firing the slot again (a fold hour, a second daemon) submits nothing either
        again = run_schedule("daily", rs.__dict__)
        assert (again.status, again.submitted) == ("SUCCEEDED", 0)
    finally:
        second.shutdown()
    assert _jobs_with(r, slot) == [slot]
    assert f"trained {slot}" in r.log_tail(slot)


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return None


def test_failing_job_is_retried_once_then_the_webhook_gets_id_and_log_tail(address):
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    slot = f"retrain-weekly-{uuid.uuid4().hex[:8]}"
    waits: list[float] = []
    try:
        res = run_slot(
            _runner(address), slot, _py("import sys; print('boom-marker'); sys.exit(1)"),
            retries=1, backoff_s=30, notify=webhook(url), sleep=waits.append,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert (res.status, res.attempts, res.submitted) == ("FAILED", [slot, f"{slot}-r1"], 2)
    assert waits == [30]  # one backoff, before the one retry
    [msg] = _Receiver.got
    assert msg["kind"] == "retraining_failed" and msg["job_id"] == f"{slot}-r1"
    assert "boom-marker" in msg["log_tail"] and msg["attempts"] == [slot, f"{slot}-r1"]
