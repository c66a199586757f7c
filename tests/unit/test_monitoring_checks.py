"""One monitoring pass over a real SQLite store: a level shift in one of six cities alerts once,
writes a retraining request, and the next pass does not alert the same incident again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy.monitoring.alerts import Notifier
from energy.monitoring.checks import run_checks
from energy.monitoring.config import AlertConfig, MonitorConfig
from energy.monitoring.store import ForecastRecord, open_store

pytestmark = pytest.mark.unit


def test_level_shift_alerts_once_per_incident(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'monitor.db'}")
    rng = np.random.default_rng(0)
    hours = pd.date_range("2024-03-01", periods=24 * 20, freq="h", tz="UTC")
    shift_at = hours[24 * 12]
    recs, rows = [], []
    for city in "abcdef":
        y = 100 * (1 + rng.normal(0, 0.02, hours.size))
        if city == "b":
            y = np.where(hours >= shift_at, y * 1.15, y)
        for t, v in zip(hours, y, strict=True):
            origin = t.floor("D").to_pydatetime()
            recs.append(ForecastRecord("r", city, origin, t.to_pydatetime(), t.hour + 1, 100.0,
                                       "m", "1"))  # fmt: skip
            rows.append({"city_id": city, "timestamp": t, "load_mw": float(v)})
    store.add_forecasts(recs)
    store.upsert_actuals(pd.DataFrame(rows))
    store.set_baselines("1", [(c, "residual", 0.0, 0.04, 0.012) for c in "abcdef"]
                        + [(c, "mape", 1.6, 3.0) for c in "abcdef"], source="test")  # fmt: skip
    cfg = MonitorConfig()
    n = Notifier(store, AlertConfig(cooldown_s=0), clock=lambda: hours[-1].to_pydatetime())
    now = hours[-1] + pd.Timedelta(hours=1)
    first = run_checks(store, cfg, n, now)
    keys = {(e.kind, e.key) for e in first.alarms()}
    assert ("drift", "b:residual") in keys and all(k[1].startswith("b") for k in keys)
    assert set(store.retrain_requests()["city_id"]) == {"b"}
    assert not first.metrics.empty  # the rolling table was recorded
    again = run_checks(store, cfg, n, now)  # no cooldown, but the same incidents
    assert again.alarms() == []
