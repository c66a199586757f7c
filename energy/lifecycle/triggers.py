"""Triggered retraining: monitoring's retraining requests turned into debounced runs.

Monitoring writes a request on a degradation or drift event (``energy.monitoring.store``:
``retrain_requests`` rows with ``status == 'open'``, a ``reason`` and a ``city_id``). Requests
are grouped by city group (``RetrainSettings.city_groups``; a city in no group is its own) and a
group is retrained at most once per ``debounce_hours``: requests that arrive inside the period
are closed as ``debounced`` and their reasons folded into the next run's reason.

The store is reached through :class:`RequestSource`, a two-method protocol, so this module does
not depend on the monitoring package's tables; the last run per group is kept in a small JSON
file (under ``ENERGY_HOME`` in the job).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from energy.lifecycle.retrain import RetrainSettings


@dataclass(frozen=True)
class Request:
    """One retraining request: ``reason`` (degradation, drift) for ``city_id`` (None: all)."""

    id: int
    reason: str
    city_id: str | None
    created_at: datetime


class RequestSource(Protocol):
    """Where open retraining requests come from (the monitoring store, or a test double)."""

    def open_requests(self) -> list[Request]:
        """Requests not yet consumed, oldest first."""
        ...

    def close(self, ids: Iterable[int], status: str) -> None:
        """Mark requests consumed: ``started`` or ``debounced``."""
        ...


@dataclass(frozen=True)
class TriggeredRun:
    """A run to start: the city group, its cities (None: all), why, and the requests it serves."""

    group: str
    cities: list[str] | None
    reason: str
    request_ids: list[int]


def group_of(city: str | None, groups: Mapping[str, list[str]]) -> str:
    """The city group a city belongs to (``all`` for a request about every city)."""
    if city is None:
        return "all"
    for name, members in groups.items():
        if city in members:
            return name
    return city


def plan(
    requests: list[Request],
    settings: RetrainSettings,
    last_runs: Mapping[str, datetime],
    now: datetime,
) -> tuple[list[TriggeredRun], list[int]]:
    """Runs to start now and request ids to close as debounced.

    Args:
        requests: open requests.
        settings: city groups and the debounce period.
        last_runs: group → when it was last retrained (aware UTC).
        now: current time (aware UTC).

    Returns:
        (runs, debounced ids): one run per group whose last run is older than the period.
    """
    period = timedelta(hours=settings.debounce_hours)
    by_group: dict[str, list[Request]] = {}
    for r in requests:
        by_group.setdefault(group_of(r.city_id, settings.city_groups), []).append(r)
    runs, debounced = [], []
    for group, reqs in sorted(by_group.items()):
        last = last_runs.get(group)
        if last is not None and now - last < period:
            debounced += [r.id for r in reqs]
            continue
        cities = None if group == "all" else sorted({r.city_id for r in reqs if r.city_id})
        if group in settings.city_groups:
            cities = sorted(settings.city_groups[group])
        reasons = sorted({r.reason for r in reqs})
        ids = [r.id for r in reqs]
        runs.append(
            TriggeredRun(group, cities, f"triggered: {'+'.join(reasons)} requests {ids}", ids)
        )
    return runs, debounced


class LastRuns:
    """Group → last triggered run time, kept in a JSON file (written atomically)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, datetime]:
        if not self.path.is_file():
            return {}
        raw = json.loads(self.path.read_text() or "{}")
        return {g: datetime.fromisoformat(t).astimezone(UTC) for g, t in raw.items()}

    def record(self, group: str, at: datetime) -> None:
        data = {g: t.isoformat() for g, t in self.read().items()}
        data[group] = at.astimezone(UTC).isoformat()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path)


def consume(
    source: RequestSource,
    settings: RetrainSettings,
    last_runs: LastRuns,
    now: datetime,
    run: Callable[[TriggeredRun], object],
) -> list[TriggeredRun]:
    """Serve the open requests once: close the debounced ones, then for each due group record
    the run (before it starts, so a crash cannot retrain the group again within the period),
    close its requests as ``started`` and call ``run``. Returns the runs started."""
    runs, debounced = plan(source.open_requests(), settings, last_runs.read(), now)
    if debounced:
        source.close(debounced, "debounced")
    for r in runs:
        last_runs.record(r.group, now)
        source.close(r.request_ids, "started")
        run(r)
    return runs
