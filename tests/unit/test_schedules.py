"""Schedules as data: the repository's file parses, a wall-clock slot fires exactly once on both
DST transition days (gap and fold, in two zones), and slot ids are the local date."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from energy.lifecycle.schedules import (
    Schedule,
    ScheduleError,
    fire_times,
    last_fire,
    load_schedules,
    next_fire,
    slot_id,
)

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def _utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def test_repository_file_parses_with_an_explicit_zone():
    f = load_schedules(REPO / "cluster" / "schedules.yaml")
    assert {s.name: (s.mode, s.cron) for s in f.schedules} == {
        "daily": ("daily", "0 2 * * *"),
        "weekly": ("weekly", "0 1 * * 0"),
    }
    assert all(s.timezone == "America/New_York" for s in f.schedules)
    assert f.job.retries == 1


@pytest.mark.parametrize(
    ("zone", "cron", "start", "end", "day"),
    [
        # spring forward: 02:00 does not exist (New York 2026-03-08, Berlin 2026-03-29)
        ("America/New_York", "0 2 * * *", _utc(2026, 3, 6), _utc(2026, 3, 11), "20260308"),
        ("Europe/Berlin", "0 2 * * *", _utc(2026, 3, 27), _utc(2026, 4, 1), "20260329"),
        # fall back: 01:00 (New York, a Sunday: the weekly run) and 02:00 (Berlin) happen twice
        ("America/New_York", "0 1 * * 0", _utc(2026, 10, 20), _utc(2026, 11, 20), "20261101"),
        ("America/New_York", "0 1 * * *", _utc(2026, 10, 30), _utc(2026, 11, 3), "20261101"),
        ("Europe/Berlin", "0 2 * * *", _utc(2026, 10, 23), _utc(2026, 10, 28), "20261025"),
    ],
)
def test_one_fire_per_local_day_on_dst_transitions(zone, cron, start, end, day):
    s = Schedule(name="x", mode="daily", cron=cron, timezone=zone)
    times = fire_times(s, start, end)
    days = [t.strftime("%Y%m%d") for t in times]
    assert len(days) == len(set(days)), days  # never twice on one local day
    assert day in days  # never skipped
    step = 1 if cron.endswith("* * *") else 7
    dates = [t.date() for t in times]
    assert all((b - a).days == step for a, b in itertools.pairwise(dates))
    assert sorted(times) == times and all(t.tzinfo is not None for t in times)


def test_gap_runs_at_the_first_instant_after_it_and_fold_at_its_first_occurrence():
    ny = Schedule(name="daily", mode="daily", cron="0 2 * * *", timezone="America/New_York")
    gap = next_fire(ny, _utc(2026, 3, 7, 12))
    assert gap.astimezone(UTC) == _utc(2026, 3, 8, 7)  # 03:00 EDT, just after the gap
    wk = Schedule(name="weekly", mode="weekly", cron="0 1 * * 0", timezone="America/New_York")
    fold = next_fire(wk, _utc(2026, 10, 31))
    assert fold.astimezone(UTC) == _utc(2026, 11, 1, 5)  # 01:00 EDT, the first 01:00
    assert next_fire(wk, fold).astimezone(UTC) == _utc(2026, 11, 8, 6)  # not 01:00 EST
    assert slot_id(wk, fold) == "retrain-weekly-20261101"


def test_crontab_weekday_numbers_start_on_sunday():
    wk = Schedule(name="weekly", mode="weekly", cron="0 1 * * 0", timezone="UTC")
    assert next_fire(wk, _utc(2026, 12, 2)).strftime("%a %H:%M") == "Sun 01:00"
    seven = Schedule(name="w7", mode="weekly", cron="0 1 * * 7", timezone="UTC")
    assert next_fire(seven, _utc(2026, 12, 2)) == next_fire(wk, _utc(2026, 12, 2))


def test_last_fire_is_the_slot_a_late_run_belongs_to():
    s = Schedule(name="daily", mode="daily", cron="0 2 * * *", timezone="America/New_York")
    t = last_fire(s, _utc(2026, 12, 2, 9, 30))
    assert slot_id(s, t) == "retrain-daily-20261202"
    assert slot_id(s, last_fire(s, _utc(2026, 12, 2, 6, 59))) == "retrain-daily-20261201"


def test_bad_files_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="unknown IANA time zone"):
        Schedule(name="d", mode="daily", cron="0 2 * * *", timezone="Mars/Base")
    with pytest.raises(ValueError, match="expected 5 fields"):
        Schedule(name="d", mode="daily", cron="0 2 * *")
    bad = tmp_path / "s.yaml"
    bad.write_text(
        "schedules:\n  - {name: d, mode: daily, cron: '0 2 * * *'}\n"
        "  - {name: d, mode: weekly, cron: '0 1 * * 0'}\n"
    )
    with pytest.raises(ScheduleError, match="used twice"):
        load_schedules(bad)
    with pytest.raises(ScheduleError, match="does not exist"):
        load_schedules(tmp_path / "none.yaml")


def test_kubernetes_manifests_use_the_same_schedules_and_zone():
    import yaml

    f = load_schedules(REPO / "cluster" / "schedules.yaml")
    want = {(s.mode, s.cron, s.timezone) for s in f.schedules}
    for path in ("cluster/kuberay/raycronjob.yaml", "cluster/kubernetes/cronjob.yaml"):
        docs = list(yaml.safe_load_all((REPO / path).read_text()))
        got = {
            (d["metadata"]["name"].rsplit("-", 1)[1], d["spec"]["schedule"], d["spec"]["timeZone"])
            for d in docs
        }
        assert got == want, path
    kinds = {
        d["kind"]
        for d in yaml.safe_load_all((REPO / "cluster/kuberay/raycronjob.yaml").read_text())
    }
    assert kinds == {"RayCronJob"}


def test_slot_from_a_schedule_name_and_its_marker_under_energy_home(tmp_path, monkeypatch):
    from energy.lifecycle.schedules import resolve_slot, slot_marker

    f = load_schedules(REPO / "cluster" / "schedules.yaml")
    assert resolve_slot("schedule:daily", f, _utc(2026, 12, 2, 9)) == "retrain-daily-20261202"
    assert resolve_slot("retrain-x-1", f, _utc(2026, 12, 2, 9)) == "retrain-x-1"
    from energy import home

    monkeypatch.setenv("ENERGY_HOME", str(tmp_path))
    home.reset()
    try:
        assert slot_marker("retrain-daily-20261202") == (
            tmp_path / "retrain" / "slots" / "retrain-daily-20261202.done"
        )
    finally:
        home.reset()  # resolved again, from the restored environment, by the next caller


def test_cli_lists_the_schedules_and_their_next_fires():
    from typer.testing import CliRunner

    from energy.cli.main import app

    file = str(REPO / "cluster" / "schedules.yaml")
    res = CliRunner().invoke(app, ["schedule", "list", "--schedules", file])
    assert res.exit_code == 0, res.output
    assert "daily" in res.output and "retrain-weekly-" in res.output
    res = CliRunner().invoke(app, ["schedule", "next", "--schedules", file, "-n", "3"])
    assert res.exit_code == 0 and len(res.output.strip().splitlines()) == 6


@pytest.mark.parametrize(
    ("zone", "cron", "start", "n"),
    [
        ("America/New_York", "0 2 * * *", _utc(2026, 3, 6), 5),  # spring gap
        ("America/New_York", "0 1 * * 0", _utc(2026, 10, 20), 4),  # autumn fold, Sunday 01:00
        ("Europe/Berlin", "0 2 * * *", _utc(2026, 10, 23), 5),  # autumn fold, 02:00
    ],
)
def test_the_daemons_trigger_fires_once_per_slot_as_apscheduler_drives_it(zone, cron, start, n):
    from energy.distributed.scheduler import ScheduleTrigger

    trig = ScheduleTrigger(Schedule(name="x", mode="daily", cron=cron, timezone=zone))
    prev, times = None, []
    for _ in range(n):  # APScheduler asks with the previous fire time and the current time
        prev = trig.get_next_fire_time(prev, prev or start)
        times.append(prev)
    days = [t.strftime("%Y%m%d") for t in times]
    assert len(set(days)) == n and sorted(times) == times
