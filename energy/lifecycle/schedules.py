"""Retraining schedules as data: ``cluster/schedules.yaml`` read into typed values, and their
fire times computed exactly once per wall-clock slot, DST days included.

A schedule is a standard crontab expression read as wall-clock time in an explicit IANA zone.
Two DST facts decide what "02:00 every day" means (both happen with the seed's schedules in
``America/New_York``: daily 02:00 is skipped in March, weekly Sunday 01:00 repeats in November):

* a wall-clock time inside the spring-forward gap does not exist: the slot fires once, at the
  first instant after the gap (APScheduler's ``CronTrigger`` already does this);
* a wall-clock time inside the fall-back fold happens twice: the slot fires at its first
  occurrence only. ``CronTrigger`` fires at both, so :func:`next_fire` skips the second.

Each slot has a deterministic id, ``retrain-<name>-<local date YYYYMMDD>``: the submission id of
the Ray job it starts, so a restarted or second scheduler asking again is refused by Ray.
"""

from __future__ import annotations

import functools
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_FILE = Path("cluster") / "schedules.yaml"
Mode = Literal["daily", "weekly", "triggered"]
# crontab numbers weekdays from Sunday (0 and 7); APScheduler 3.x from Monday (its
# ``from_crontab`` passes numbers through, issue 286): names are unambiguous in both.
_DOW = {"0": "sun", "1": "mon", "2": "tue", "3": "wed", "4": "thu", "5": "fri", "6": "sat"}
_DOW["7"] = "sun"


class ScheduleError(ValueError):
    """A schedules file that cannot be used, with a one-line message naming the key at fault."""


class Schedule(BaseModel):
    """One retraining schedule.

    Attributes:
        name: its id (``daily``); part of every submission id it produces.
        mode: the retraining mode it runs (``jobs.retrain --mode``).
        cron: minute hour day-of-month month day-of-week, wall-clock time in ``timezone``.
        timezone: IANA zone (filled from the file's top-level ``timezone`` when absent).
        enabled: False keeps it in the file but never fires it.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    mode: Mode
    cron: str
    timezone: str = "UTC"
    enabled: bool = True

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {v!r}") from None
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        _trigger(v, "UTC")  # raises ValueError naming the field
        return v

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class JobSettings(BaseModel):
    """What every scheduled run executes and how failures are handled.

    Attributes:
        args: arguments after ``python -m jobs.retrain --mode MODE``.
        retries: times a failed job is submitted again (under ``<id>-r<n>``).
        backoff_s: seconds before a retry (doubled for each further one).
        notify_url: JSON webhook told about a job that failed every try; None: log only.
    """

    model_config = ConfigDict(extra="forbid")
    args: list[str] = Field(default_factory=list)
    retries: int = Field(default=1, ge=0, le=5)
    backoff_s: float = Field(default=300.0, ge=0.0)
    notify_url: str | None = None


class ScheduleFile(BaseModel):
    """The whole ``cluster/schedules.yaml``."""

    model_config = ConfigDict(extra="forbid")
    timezone: str = "UTC"
    schedules: list[Schedule]
    job: JobSettings = JobSettings()

    @model_validator(mode="before")
    @classmethod
    def _inherit_zone(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("schedules"), list):
            zone = data.get("timezone", "UTC")
            data = {
                **data,
                "schedules": [
                    {"timezone": zone, **s} if isinstance(s, dict) else s for s in data["schedules"]
                ],
            }
        return data

    @model_validator(mode="after")
    def _unique(self) -> ScheduleFile:
        names = [s.name for s in self.schedules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"schedules: name {dup[0]!r} is used twice")
        return self

    def get(self, name: str) -> Schedule:
        """The schedule called ``name`` (or the first whose mode is ``name``)."""
        for s in self.schedules:
            if s.name == name:
                return s
        for s in self.schedules:
            if s.mode == name:
                return s
        have = ", ".join(s.name for s in self.schedules)
        raise ScheduleError(f"schedule: no schedule named {name!r} (have {have})")


def load_schedules(path: str | os.PathLike[str] = DEFAULT_FILE) -> ScheduleFile:
    """Read and validate a schedules file; errors name the file and the key."""
    p = Path(path)
    if not p.is_file():
        raise ScheduleError(f"--schedules: {str(p)!r} does not exist")
    try:
        return ScheduleFile.model_validate(yaml.safe_load(p.read_text()) or {})
    except ValueError as e:
        first = str(e).splitlines()
        raise ScheduleError(f"{p}: {' '.join(first[1:3]) or first[0]}") from None


def _crontab_dow(field: str) -> str:
    return re.sub(r"\d+", lambda m: _DOW.get(m.group(0), m.group(0)), field)


@functools.lru_cache(maxsize=64)
def _trigger(cron: str, zone: str) -> CronTrigger:
    parts = cron.split()
    if len(parts) != 5:
        raise ValueError(f"cron {cron!r}: expected 5 fields (minute hour day month weekday)")
    minute, hour, day, month, dow = parts
    try:
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month,
            day_of_week=_crontab_dow(dow), timezone=ZoneInfo(zone),
        )  # fmt: skip
    except ValueError as e:
        raise ValueError(f"cron {cron!r}: {e}") from None


def _second_occurrence(t: datetime) -> bool:
    """Whether ``t`` (aware, in its zone) is the repeat of a wall-clock time in a DST fold."""
    wall = t.replace(tzinfo=None)
    first = wall.replace(fold=0, tzinfo=t.tzinfo)
    return first.astimezone(UTC) != t.astimezone(UTC)


def next_fire(schedule: Schedule, after: datetime) -> datetime:
    """The first fire time strictly after ``after`` (aware), in the schedule's zone."""
    trig = _trigger(schedule.cron, schedule.timezone)
    prev = after.astimezone(schedule.zone)
    for _ in range(4):  # at most one fold to step over
        nxt = trig.get_next_fire_time(prev, prev)
        if nxt is None:  # pragma: no cover - a cron without end date always has a next time
            raise ScheduleError(f"schedule {schedule.name}: cron never fires again")
        if nxt.astimezone(UTC) <= after.astimezone(UTC):
            prev = nxt + timedelta(microseconds=1)
            continue
        if not _second_occurrence(nxt):
            return nxt
        prev = nxt
    raise ScheduleError(f"schedule {schedule.name}: no fire time after {after}")  # pragma: no cover


def fire_times(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time in ``(start, end]`` (aware datetimes), in the schedule's zone."""
    out: list[datetime] = []
    t = start
    while (t := next_fire(schedule, t)).astimezone(UTC) <= end.astimezone(UTC):
        out.append(t)
    return out


def last_fire(schedule: Schedule, now: datetime, *, lookback: timedelta | None = None) -> datetime:
    """The latest fire time at or before ``now``: the slot a (late) run belongs to.

    Raises:
        ScheduleError: none within ``lookback`` (default 35 days).
    """
    span = lookback or timedelta(days=35)
    times = fire_times(schedule, now - span, now)
    if not times:
        raise ScheduleError(f"schedule {schedule.name}: no fire time in the {span} before {now}")
    return times[-1]


def slot_id(schedule: Schedule, fire_time: datetime) -> str:
    """``retrain-<name>-<YYYYMMDD>``: the local date of the slot, the Ray submission id."""
    return f"retrain-{schedule.name}-{fire_time.astimezone(schedule.zone):%Y%m%d}"


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def upcoming(file: ScheduleFile, now: datetime, n: int = 1) -> list[dict[str, str]]:
    """The next ``n`` fires of every enabled schedule after ``now``: one row each with the
    schedule, mode, cron, zone, local and UTC times and the slot id (``energy schedule next``)."""
    rows = []
    for s in file.schedules:
        if not s.enabled:
            continue
        t = now
        for _ in range(n):
            t = next_fire(s, t)
            rows.append(
                {
                    "schedule": s.name,
                    "mode": s.mode,
                    "cron": s.cron,
                    "timezone": s.timezone,
                    "local": t.isoformat(),
                    "utc": t.astimezone(UTC).isoformat(),
                    "slot": slot_id(s, t),
                }
            )
    return rows


def resolve_slot(spec: str, file: ScheduleFile, now: datetime) -> str:
    """A slot id from ``--slot``: ``schedule:<name>`` (the schedule's latest slot at ``now``,
    for runners that cannot pass an id, e.g. a RayCronJob) or an explicit id."""
    if spec.startswith("schedule:"):
        s = file.get(spec.removeprefix("schedule:"))
        return slot_id(s, last_fire(s, now))
    return spec


def slot_marker(slot: str) -> Path:
    """``<ENERGY_HOME>/retrain/slots/<slot>.done``: written when a slot's run has registered."""
    from energy.home import home

    return home() / "retrain" / "slots" / f"{slot}.done"
