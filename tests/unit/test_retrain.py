"""Retraining without a cluster: each mode's window, the data freshness gate (refuse, notify,
non-zero exit), the window's own data hash, the config handed to the pipeline, and debounced
triggered requests per city group."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from energy import schema
from energy.config.experiment import ExperimentConfig
from energy.lifecycle.retrain import (
    RetrainSettings,
    StaleDataError,
    check_fresh,
    config_for,
    retrain,
    window_for,
)
from energy.lifecycle.triggers import LastRuns, Request, plan

pytestmark = pytest.mark.unit
CFG = ExperimentConfig.model_validate(
    {"name": "tiny", "features": {"horizon": 24, "lags": [24, 48, 168]},
     "models": {"xgboost": {"n_estimators": 5, "n_jobs": 1}}}
)  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    from energy.data.ingest import synth_dataset

    return synth_dataset(tmp_path_factory.mktemp("d") / "data", n_cities=2, days=120, seed=1)


def test_windows_match_the_seed(data):
    end = data.load[schema.TIME].max()
    d = window_for("daily", CFG, end)
    w = window_for("weekly", CFG, end)
    assert (d.end - d.start, d.val_days) == (pd.Timedelta(days=8), 1)
    assert (w.end - w.start, w.val_days) == (pd.Timedelta(days=97), 7)
    assert d.end == (end + pd.Timedelta(hours=1)).floor("D") and d.end == w.end  # UTC
    zones = sorted(set(data.cities["timezone"]))
    local = window_for("daily", CFG, end, zones=zones).end
    assert any(local.tz_convert(z) == local.tz_convert(z).normalize() for z in zones)
    assert local <= end + pd.Timedelta(hours=1)
    assert d.lookback_hours >= 168 + 24  # the longest lag and rolling window, plus the horizon
    assert window_for("daily", CFG, end, as_of="2020-03-01 23:00").end == pd.Timestamp(
        "2020-03-02", tz="UTC"
    )
    with pytest.raises(ValueError, match="--mode"):
        window_for("hourly", CFG, end)


def test_config_for_puts_the_protocol_on_the_validation_days(data):
    d = window_for("daily", CFG, data.load[schema.TIME].max())
    c = config_for(CFG, d)
    assert c.promotion.windows_days == 1 and c.ensemble.val_days == 1
    assert CFG.promotion.windows_days == 14  # the caller's config is not changed


def _holed(data, city: str, share: float, window):
    load = data.load.copy()
    t = load[schema.TIME]
    inside = load.index[(load[schema.CITY] == city) & (t >= window.start) & (t < window.end)]
    drop = inside[: int(len(inside) * share)]
    load.loc[drop, schema.LOAD] = np.nan
    return type(data)(load=load, cities=data.cities, events=data.events, manifest=data.manifest)


def test_gappy_window_is_refused_and_notified(data, tmp_path):
    w = window_for("daily", CFG, data.load[schema.TIME].max())
    holed = _holed(data, "syn-001", 0.25, w)
    with pytest.raises(StaleDataError, match=r"worst syn-001: 2\d\.\d%"):
        check_fresh(holed, w, 0.05)
    got: list[tuple[str, dict[str, Any]]] = []

    def never(*_a: Any, **_k: Any) -> None:
        raise AssertionError("must not train on a refused window")

    with pytest.raises(StaleDataError):
        retrain("daily", CFG, holed, tmp_path, notify=lambda k, p: got.append((k, p)), train=never)
    assert got[0][0] == "retraining_refused" and got[0][1]["gaps"]["syn-001"] >= 0.25
    # a window past the data's end is all gaps: refused too
    with pytest.raises(StaleDataError):
        retrain("daily", CFG, data, tmp_path, as_of="2030-01-01", train=never)


def test_retrain_hands_the_window_to_the_pipeline_with_its_hash(data, tmp_path):
    seen: dict[str, Any] = {}

    def fake_train(cfg, ds, out, **kw):
        seen.update(cfg=cfg, ds=ds, out=out, kw=kw)
        return type("R", (), {"promoted": False, "version": "3", "decision": None})()

    events: list[str] = []
    o = retrain("weekly", CFG, data, tmp_path, train=fake_train, register=True,
                notify=lambda k, p: events.append(k))  # fmt: skip
    t = seen["ds"].load[schema.TIME]
    assert t.min() == o.window.read_from and t.max() == o.window.end - pd.Timedelta(hours=1)
    assert seen["cfg"].promotion.windows_days == 7 and seen["kw"]["register"] is True
    assert o.data_hash == seen["ds"].manifest["content_hash"] != data.manifest.get("content_hash")
    s = o.summary()
    assert s["version"] == "3" and s["promoted"] is False and s["reason"] == "scheduled weekly"
    assert events == ["retraining_done"]


NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def test_triggered_requests_are_debounced_per_city_group(tmp_path: Path):
    s = RetrainSettings(debounce_hours=24, city_groups={"east": ["a", "b"]})
    reqs = [
        Request(1, "degradation", "a", NOW),
        Request(2, "drift", "b", NOW),
        Request(3, "drift", "c", NOW),
        Request(4, "drift", "d", NOW),
    ]
    last = LastRuns(tmp_path / "triggered.json")
    last.record("c", NOW - timedelta(hours=3))  # c ran 3 h ago: debounced
    last.record("d", NOW - timedelta(hours=30))  # d ran 30 h ago: due
    runs, debounced = plan(reqs, s, last.read(), NOW)
    assert [(r.group, r.cities, r.request_ids) for r in runs] == [
        ("d", ["d"], [4]),
        ("east", ["a", "b"], [1, 2]),
    ]
    assert runs[1].reason == "triggered: degradation+drift requests [1, 2]"
    assert debounced == [3]
    assert last.read()["c"] == NOW - timedelta(hours=3)


class _Source:
    def __init__(self, reqs: list[Request]) -> None:
        self.reqs, self.closed = reqs, {}

    def open_requests(self) -> list[Request]:
        return [r for r in self.reqs if r.id not in self.closed]

    def close(self, ids, status: str) -> None:
        self.closed.update(dict.fromkeys(ids, status))


def test_consume_runs_a_group_once_per_period(tmp_path: Path):
    s = RetrainSettings(debounce_hours=24)
    src = _Source([Request(1, "drift", "a", NOW), Request(2, "degradation", "a", NOW)])
    from energy.lifecycle.triggers import consume

    last = LastRuns(tmp_path / "t.json")
    started: list[str] = []
    consume(src, s, last, NOW, lambda r: started.append(r.reason))
    assert started == ["triggered: degradation+drift requests [1, 2]"]
    src.reqs.append(Request(3, "drift", "a", NOW + timedelta(hours=1)))
    consume(src, s, last, NOW + timedelta(hours=1), lambda r: started.append(r.reason))
    assert len(started) == 1 and src.closed == {1: "started", 2: "started", 3: "debounced"}
    consume(src, s, last, NOW + timedelta(hours=25), lambda r: started.append(r.reason))
    assert len(started) == 1  # request 3 was closed as debounced: nothing open


def test_job_refuses_a_gappy_window_with_exit_3_and_skips_a_slot_already_run(
    data, tmp_path, capsys, monkeypatch
):
    import yaml

    from energy import home
    from energy.lifecycle.schedules import slot_marker
    from jobs import retrain as job

    d = tmp_path / "data"
    from energy.data.dataset import write_dataset

    write_dataset(data, d)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(CFG.model_dump(mode="json")))
    base = ["--mode", "daily", "--config", str(cfg), "--data", str(d), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as e:
        job.main([*base, "--as-of", "2030-01-01"])
    assert e.value.code == job.STALE_EXIT and "refusing to retrain" in capsys.readouterr().err
    monkeypatch.setenv("ENERGY_HOME", str(tmp_path / "home"))
    home.reset()
    try:
        marker = slot_marker("retrain-daily-20200101")
        marker.parent.mkdir(parents=True)
        marker.write_text("{}")
        job.main([*base, "--slot", "retrain-daily-20200101"])  # no training: it already ran
        assert json.loads(capsys.readouterr().out)["skipped"] == "already ran"
    finally:
        home.reset()


def test_scheduled_job_is_planned_like_energy_submit():
    from energy.distributed.scheduler import RunnerSettings, job_for
    from energy.lifecycle.schedules import load_schedules

    repo = Path(__file__).resolve().parents[2]
    file = load_schedules(repo / "cluster" / "schedules.yaml")
    rs = RunnerSettings(schedules="x", address="http://127.0.0.1:1", working_dir=str(repo))
    r = job_for(file.get("daily"), file, rs, "retrain-daily-20261202")
    assert r.entrypoint.startswith(
        "python -m jobs.retrain --mode daily --slot retrain-daily-20261202 --config cpu"
    )
    assert r.runtime_env["working_dir"] == str(repo)
