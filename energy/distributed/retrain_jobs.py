"""Scheduled retraining runs as Ray jobs: submitted once per slot, retried once, failures notified.

A slot (``retrain-daily-20261202``, :func:`energy.lifecycle.schedules.slot_id`) is the
``submission_id`` of its first attempt; a retry is ``<slot>-r1``. Ray's job table is the only
state: :func:`run_slot` first asks Ray which attempts exist, follows one that is still running
and submits only what is missing, so a restarted or second scheduler that runs the same slot
again never starts a second job (``JobSubmissionClient.submit_job`` also refuses a duplicate id).

When every attempt failed, ``notify("retraining_failed", {...})`` receives the job ids, the last
status message and the tail of the last attempt's log.

The command and runtime env of a scheduled run are planned by :mod:`energy.distributed.submit`
(:func:`energy.distributed.scheduler.job_for`); this module only submits, follows and retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Notify = Callable[[str, dict[str, Any]], None]
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def _no_notify(_kind: str, _payload: dict[str, Any]) -> None:
    return None


@dataclass
class JobRunner:
    """Submits and watches jobs on one cluster's job API.

    Attributes:
        address: the dashboard, ``http://HEAD:8265``.
        runtime_env: sent with every job (working dir, env vars).
        poll_s: seconds between status polls while waiting.
    """

    address: str
    runtime_env: dict[str, Any] = field(default_factory=dict)
    poll_s: float = 2.0
    entrypoint: str = ""
    _client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self.address)
        return self._client

    def status(self, submission_id: str) -> str | None:
        """The job's status (``PENDING`` … ``FAILED``); None when no job has that id."""
        try:
            return str(self.client.get_job_status(submission_id).value)
        except RuntimeError as e:
            if "does not exist" in str(e) or "404" in str(e):
                return None
            raise

    def submit_once(self, submission_id: str, entrypoint: str, *, within_s: float = 180.0) -> bool:
        """Submit under ``submission_id``; False when a job with that id already exists.

        A head whose job agent is still starting (or busy) answers "No available agent",
        sometimes although it accepted the job: the id is looked up before each new try, for
        up to ``within_s``, so a retry never starts a second job.
        """
        if self.status(submission_id) is not None:
            return False
        deadline = time.monotonic() + within_s
        while True:
            try:
                self.client.submit_job(
                    entrypoint=entrypoint,
                    runtime_env=self.runtime_env or None,
                    submission_id=submission_id,
                    metadata={"energy": "retrain"},
                )
                return True
            except RuntimeError as e:
                if "already exists" in str(e):
                    return False  # another scheduler got there between our check and submit
                if "No available agent" not in str(e) or time.monotonic() > deadline:
                    raise
            if self.status(submission_id) is not None:
                return True  # accepted after all
            time.sleep(2)  # the head's job agent is starting: try again, bounded by within_s

    def wait(self, submission_id: str, *, timeout_s: float | None = None) -> str:
        """Poll until the job ends (or ``timeout_s`` passes); returns its last status."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            st = self.status(submission_id) or "MISSING"
            if st in TERMINAL or st == "MISSING":
                return st
            if deadline is not None and time.monotonic() > deadline:
                return st
            time.sleep(self.poll_s)  # the job API has no blocking wait

    def log_tail(self, submission_id: str, lines: int = 40) -> str:
        """The last ``lines`` lines of the job's driver log ('' when unavailable)."""
        try:
            text = str(self.client.get_job_logs(submission_id))
        except RuntimeError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def message(self, submission_id: str) -> str:
        try:
            return str(self.client.get_job_info(submission_id).message or "")
        except RuntimeError:
            return ""


@dataclass(frozen=True)
class SlotResult:
    """How a slot ended: its final status, the attempts' ids, how many were submitted now."""

    slot: str
    status: str
    attempts: list[str]
    submitted: int

    @property
    def ok(self) -> bool:
        return self.status == "SUCCEEDED"


def attempt_ids(slot: str, retries: int) -> list[str]:
    """``[slot, slot-r1, ...]``: the submission ids of a slot's attempts."""
    return [slot] + [f"{slot}-r{i}" for i in range(1, retries + 1)]


def run_slot(
    runner: JobRunner,
    slot: str,
    entrypoint: str,
    *,
    retries: int = 1,
    backoff_s: float = 300.0,
    notify: Notify = _no_notify,
    sleep: Callable[[float], None] = time.sleep,
    timeout_s: float | None = None,
) -> SlotResult:
    """Run a slot's job to its end: submit what is missing, retry a failure, notify at the end.

    Args:
        runner: the cluster's job API.
        slot: the slot id (the first attempt's submission id).
        entrypoint: the shell command of the job.
        retries: attempts after the first one.
        backoff_s: seconds before the first retry (doubled for each further one).
        notify: receives ``retraining_failed`` when every attempt failed.
        sleep: how to wait for the backoff (tests pass a no-op).
        timeout_s: stop waiting for one attempt after this long (None: wait for its end).
    """
    ids = attempt_ids(slot, retries)
    submitted, status, last = 0, "MISSING", ids[0]
    for n, sid in enumerate(ids):
        last = sid
        if runner.status(sid) is None:
            if n > 0:
                sleep(backoff_s * 2 ** (n - 1))
            submitted += int(runner.submit_once(sid, entrypoint))
        status = runner.wait(sid, timeout_s=timeout_s)
        if status not in ("FAILED", "MISSING"):
            break  # SUCCEEDED, STOPPED by a person, or still running at timeout
    result = SlotResult(slot, status, ids[: ids.index(last) + 1], submitted)
    if status in ("FAILED", "MISSING"):
        notify(
            "retraining_failed",
            {
                "job_id": last,
                "attempts": result.attempts,
                "status": status,
                "message": runner.message(last),
                "log_tail": runner.log_tail(last),
                "address": runner.address,
            },
        )
    return result
