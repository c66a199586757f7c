"""The store goes down mid-traffic: the request path never waits nor fails; drops are counted;
what was not dropped is written once the store is back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from energy.monitoring.logger import ForecastLogger
from energy.monitoring.store import ForecastRecord, Store

pytestmark = pytest.mark.monitoring
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _batch(k: int) -> list[ForecastRecord]:
    return [ForecastRecord(f"req{k}", "a", T0, T0, s + 1, 1.0, "m", "1") for s in range(24)]


def test_store_down_mid_traffic(store: Store) -> None:
    if store.engine.url.get_backend_name() != "sqlite":
        pytest.skip("locks the SQLite file to take the store down")
    lg = ForecastLogger(store.add_forecasts, queue_size=20, batch_size=48, flush_s=0.01,
                        retry_s=0.05)  # fmt: skip
    for k in range(10):  # healthy traffic
        assert lg.log(_batch(k)) == 0
    assert lg.flush(20)
    blocker = store.engine.raw_connection()  # another process holding the write lock
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        results = [lg.log(_batch(k)) for k in range(10, 60)]  # 50 requests while down
        assert lg.write_errors >= 1 or lg.queued > 0
    finally:
        blocker.rollback()
        blocker.close()
    assert lg.flush(30)
    lost = sum(results)
    assert lost == lg.dropped > 0  # the queue (20 requests) overflowed: counted
    with store.engine.connect() as conn:
        n = conn.execute(sa.text("SELECT COUNT(*) FROM served_forecasts")).scalar()
    assert n == 60 * 24 - lg.dropped  # nothing that was queued got lost
    lg.close()
