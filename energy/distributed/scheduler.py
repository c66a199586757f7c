"""``energy schedule run``: the embedded scheduler that submits retraining jobs to Ray.

APScheduler 3.11 with the settings the issue asks for: one scheduler per ``ENERGY_HOME`` (a
file lock), ``max_instances=1`` (a slot still running blocks the next one of that schedule),
``coalesce`` (runs missed while the daemon was down collapse into one), ``misfire_grace_time``
(a missed run older than that is skipped, not run late), and a persistent job store
(``<ENERGY_HOME>/scheduler/jobs.sqlite``), so a restart keeps each schedule's next run time.

Exactly once per slot does not rest on the scheduler: each run derives its slot from the wall
clock (:func:`~energy.lifecycle.schedules.last_fire`) and submits it under the slot's
deterministic id through :func:`~energy.distributed.retrain_jobs.run_slot`, which asks Ray what
already exists. A restart mid-job, a second daemon elsewhere, or a fold hour firing twice all
end at the same Ray job.
"""

from __future__ import annotations

import fcntl
import logging
import queue
import shlex
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from energy.distributed.retrain_jobs import JobRunner, SlotResult, run_slot
from energy.home import home
from energy.lifecycle.notify import webhook
from energy.lifecycle.schedules import (
    Schedule,
    ScheduleFile,
    last_fire,
    load_schedules,
    next_fire,
    now_utc,
    slot_id,
)

MISFIRE_GRACE_S = 6 * 3600
log = logging.getLogger("energy.scheduler")


def state_dir() -> Path:
    """``<ENERGY_HOME>/scheduler``: the job store and the daemon's lock."""
    return home() / "scheduler"


class ScheduleTrigger(BaseTrigger):
    """An APScheduler trigger over :func:`~energy.lifecycle.schedules.next_fire`: the cron in
    its own zone, one fire per wall-clock slot on DST days. Pickled into the job store."""

    __slots__ = ("schedule",)

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = previous_fire_time or (now - timedelta(microseconds=1))
        return next_fire(self.schedule, after)

    def __getstate__(self) -> dict[str, Any]:
        return {"schedule": self.schedule.model_dump()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.schedule = Schedule.model_validate(state["schedule"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScheduleTrigger) and other.schedule == self.schedule

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class RunnerSettings:
    """What a scheduled run needs besides its schedule (stored with the job, plain values).

    Attributes:
        schedules: path of the schedules file.
        address: Ray dashboard address.
        working_dir: repository uploaded with each job (None: the nodes have the code).
        runtime_env_file: YAML runtime env (``cluster/runtime_env.yaml``).
        entrypoint: None: ``python -m jobs.retrain --mode MODE --slot SLOT`` + ``job.args``;
            else a format string with ``{mode}`` and ``{slot}`` (tests run cheap commands).
        timeout_s: longest wait for one attempt.
    """

    schedules: str
    address: str
    working_dir: str | None = None
    runtime_env_file: str | None = None
    entrypoint: str | None = None
    timeout_s: float | None = None
    env: dict[str, str] = field(default_factory=dict)


def job_for(sched: Schedule, file: ScheduleFile, rs: RunnerSettings, slot: str) -> JobRunner:
    """The runner (cluster, runtime env) and, as ``runner.entrypoint``, the command of a slot.

    With a working dir the job is planned as ``energy submit retrain`` plans it
    (:func:`energy.distributed.submit.plan`: the repository uploaded, ``cluster/runtime_env.yaml``);
    the job gets ``--slot`` so that it records the slot as done (:mod:`jobs.retrain`).
    """
    if rs.entrypoint is not None:
        runner = JobRunner(rs.address, {"env_vars": dict(rs.env)} if rs.env else {})
        runner.entrypoint = rs.entrypoint.format(mode=sched.mode, slot=slot)
        return runner
    args = ["--mode", sched.mode, "--slot", slot, *file.job.args]
    if rs.working_dir is None:  # the nodes have the code
        env = {"env_vars": dict(rs.env)} if rs.env else {}
        runner = JobRunner(rs.address, env)
        runner.entrypoint = shlex.join(["python", "-m", "jobs.retrain", *args])
        return runner
    from energy.distributed.submit import plan

    sub = plan(
        "retrain", args, working_dir=Path(rs.working_dir), address=rs.address,
        runtime_env_file=Path(rs.runtime_env_file) if rs.runtime_env_file else None,
        env=rs.env, submission_id=slot,
    )  # fmt: skip
    runner = JobRunner(rs.address, sub.runtime_env())
    runner.entrypoint = sub.entrypoint
    return runner


def run_schedule(name: str, settings: dict[str, Any], now: datetime | None = None) -> SlotResult:
    """Run the current slot of schedule ``name`` to its end (the scheduler's job function).

    ``now`` defaults to the wall clock; a late (coalesced) run belongs to the latest slot.
    """
    rs = RunnerSettings(**settings)
    file = load_schedules(rs.schedules)
    sched = file.get(name)
    slot = slot_id(sched, last_fire(sched, now or now_utc()))
    runner = job_for(sched, file, rs, slot)
    return run_slot(
        runner,
        slot,
        runner.entrypoint,
        retries=file.job.retries,
        backoff_s=file.job.backoff_s,
        notify=webhook(file.job.notify_url),
        timeout_s=rs.timeout_s,
    )


def trigger_now(mode: str, rs: RunnerSettings, *, now: datetime | None = None) -> SlotResult:
    """``energy schedule trigger MODE``: run a schedule's current slot now (same dedup)."""
    return run_schedule(load_schedules(rs.schedules).get(mode).name, asdict(rs), now)


class DaemonBusy(RuntimeError):
    """Another scheduler holds this ``ENERGY_HOME``'s lock."""


class Daemon:
    """One APScheduler instance over the schedules file, its state under ``state``.

    Args:
        settings: where the schedules, the cluster and the code are.
        state: folder of the job store and the lock (default :func:`state_dir`).
    """

    def __init__(self, settings: RunnerSettings, state: Path | None = None) -> None:
        self.settings = settings
        self.state = state or state_dir()
        self.scheduler: BackgroundScheduler | None = None
        self._lock: Any = None
        self._stop = threading.Event()
        self.finished: queue.Queue[tuple[str, Any]] = queue.Queue()
        """(job id, SlotResult or exception) of every run that ended, in order."""

    def start(self) -> BackgroundScheduler:
        """Take the lock, open the store, (re)register the schedules, start firing."""
        self.state.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.state / "daemon.lock", "w")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise DaemonBusy(f"another scheduler runs on {self.state}") from None
        store = SQLAlchemyJobStore(url=f"sqlite:///{self.state / 'jobs.sqlite'}")
        sch = BackgroundScheduler(
            jobstores={"default": store},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": MISFIRE_GRACE_S,
            },
            timezone="UTC",
        )
        sch.add_jobstore("memory", alias="oneoff")  # resumed slots: not persisted
        sch.add_listener(self._on_end, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        sch.start(paused=True)
        file = load_schedules(self.settings.schedules)
        self._register(sch, file)
        self._resume(sch, file)
        sch.resume()
        self.scheduler = sch
        return sch

    def _on_end(self, event: JobExecutionEvent) -> None:
        self.finished.put((event.job_id, event.exception or event.retval))

    def _resume(self, sch: BackgroundScheduler, file: ScheduleFile) -> None:
        """Follow again each schedule's current slot that Ray already has (a restart mid-job):
        its retry and failure notification must not be lost. A slot Ray does not know is left
        to the stored next run time and the misfire grace, never started here."""
        runner = JobRunner(self.settings.address)
        now = now_utc()
        for s in file.schedules:
            if not s.enabled:
                continue
            slot = slot_id(s, last_fire(s, now))
            try:
                known = runner.status(slot) is not None
            except (ConnectionError, RuntimeError, ValueError) as e:
                log.warning("cannot reach %s to resume %s: %s", self.settings.address, slot, e)
                return
            if known:
                log.info("following %s again after a restart", slot)
                sch.add_job(
                    run_schedule, args=[s.name], kwargs={"settings": asdict(self.settings)},
                    id=f"resume-{s.name}", jobstore="oneoff", replace_existing=True,
                )  # fmt: skip

    def _register(self, sch: BackgroundScheduler, file: ScheduleFile) -> None:
        """Add each enabled schedule; one whose stored trigger and settings are unchanged keeps
        its stored next run time (so a run missed while down still fires, once)."""
        wanted = {s.name: s for s in file.schedules if s.enabled}
        kwargs = {"settings": asdict(self.settings)}
        for job in sch.get_jobs():
            if job.id not in wanted:
                job.remove()
        for name, s in wanted.items():
            old = sch.get_job(name)
            trig = ScheduleTrigger(s)
            if (
                old is not None
                and old.trigger == trig
                and old.kwargs.get("settings") == kwargs["settings"]
            ):
                continue
            sch.add_job(
                "energy.distributed.scheduler:run_schedule",
                trigger=trig, id=name, name=f"retrain {s.mode}", args=[name], kwargs=kwargs,
                replace_existing=True,
            )  # fmt: skip

    def next_runs(self) -> dict[str, datetime | None]:
        """Schedule name → its next run time as stored."""
        assert self.scheduler is not None, "start() first"
        return {j.id: j.next_run_time for j in self.scheduler.get_jobs()}

    def serve(self) -> None:
        """Start and block until :meth:`stop` (or SIGINT/SIGTERM via the CLI)."""
        if self.scheduler is None:
            self.start()
        self._stop.wait()
        self.shutdown()

    def stop(self) -> None:
        self._stop.set()

    def shutdown(self, wait: bool = False) -> None:
        """Stop firing (running slots' threads are not waited for unless ``wait``), unlock."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self.scheduler = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
