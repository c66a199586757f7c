"""Events: local log sink, cooldown dedup, retraining requests on degradation and drift."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from energy.monitoring.alerts import Notifier
from energy.monitoring.checks import error_rate_check
from energy.monitoring.config import AlertConfig
from energy.monitoring.store import open_store

pytestmark = pytest.mark.unit


def test_cooldown_dedup_and_retrain_request(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'monitor.db'}")
    now = [datetime(2024, 1, 1, tzinfo=UTC)]
    n = Notifier(store, AlertConfig(cooldown_s=3600), clock=lambda: now[0])
    first = n.emit("degradation", "a@v1", "city a degraded", city_id="a", model_version="1")
    assert first.event_id is not None and first.retrain_id is not None
    assert first.delivered == ("log",)
    now[0] += timedelta(minutes=30)
    assert n.emit("degradation", "a@v1", "again").suppressed
    assert not n.emit("degradation", "b@v1", "city b").suppressed  # another key
    now[0] += timedelta(hours=1)
    assert not n.emit("degradation", "a@v1", "still").suppressed  # the cooldown is over
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [x["key"] for x in lines] == ["a@v1", "b@v1", "a@v1"]
    req = store.retrain_requests()
    assert req["reason"].tolist() == ["degradation"] * 3 and set(req["status"]) == {"open"}
    assert n.emit("promotion_done", "v2", "v2 is champion").retrain_id is None


def test_unknown_kind_and_error_rate(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'monitor.db'}")
    n = Notifier(store, AlertConfig())
    with pytest.raises(ValueError, match="kind: unknown event kind 'oops'"):
        n.emit("oops", "k", "m")
    assert error_rate_check(n, "/v1/forecast", 1, 100, 0.05) is None
    got = error_rate_check(n, "/v1/forecast", 10, 100, 0.05)
    assert got is not None and got.kind == "serving_error_rate"
    assert store.events()["severity"].tolist() == ["error"]
