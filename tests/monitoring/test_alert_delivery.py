"""An alert travels through apprise to a real HTTP webhook on 127.0.0.1; the cooldown holds."""

from __future__ import annotations

import pytest

from energy.monitoring.alerts import Notifier
from energy.monitoring.config import AlertConfig
from energy.monitoring.store import Store

pytestmark = pytest.mark.monitoring


def test_webhook_receives_the_alert(store: Store, webhook: tuple[str, object]) -> None:
    base, got = webhook
    cfg = AlertConfig(urls=(f"json://{base}/hook",), cooldown_s=3600)
    n = Notifier(store, cfg)
    sent = n.emit("drift", "zone_05:residual", "zone_05: residuals drifted", city_id="zone_05")
    assert "json" in sent.delivered
    assert got.wait(1)  # type: ignore[attr-defined]
    body = got.bodies[0]  # type: ignore[attr-defined]
    assert body["title"] == "[energy] warning: drift (zone_05:residual)"
    assert body["message"] == "zone_05: residuals drifted"
    assert n.emit("drift", "zone_05:residual", "again").suppressed
    assert len(store.retrain_requests()) == 1
