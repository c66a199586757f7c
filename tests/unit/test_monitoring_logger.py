"""The replica logger: never blocks the caller, bounded memory, drops counted, retries writes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from energy.monitoring.logger import ForecastLogger
from energy.monitoring.store import ForecastRecord

pytestmark = pytest.mark.unit
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _recs(n: int, tag: str = "r") -> list[ForecastRecord]:
    return [ForecastRecord(f"{tag}{i}", "a", T0, T0, 1, float(i), "m", "1") for i in range(n)]


class Blocked:
    """A writer stuck until released (a store that hangs), then recording what it got."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.got: list[ForecastRecord] = []

    def __call__(self, batch: Sequence[ForecastRecord]) -> None:
        self.release.wait(30)
        self.got.extend(batch)


def test_full_queue_drops_and_counts_without_blocking() -> None:
    writer = Blocked()
    lg = ForecastLogger(writer, queue_size=10, batch_size=5, flush_s=0.01)
    lost = sum(lg.log(_recs(1, f"b{k}-")) for k in range(40))  # the writer holds one batch
    assert lost == lg.dropped and 40 - 15 <= lg.dropped <= 40 - 10
    writer.release.set()
    assert lg.flush(10)
    assert len(writer.got) + lg.dropped == 40  # every record written once or counted dropped
    lg.close()


class Flaky:
    """Fails the first ``n`` writes (a store that is down), then works."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0
        self.got: list[ForecastRecord] = []

    def __call__(self, batch: Sequence[ForecastRecord]) -> None:
        self.calls += 1
        if self.calls <= self.n:
            raise ConnectionError("store is down")
        self.got.extend(batch)


def test_failed_writes_are_retried_not_lost() -> None:
    writer = Flaky(3)
    lg = ForecastLogger(writer, queue_size=1000, batch_size=50, flush_s=0.01, retry_s=0.01)
    lg.log(_recs(120))
    assert lg.flush(10)
    assert len(writer.got) == 120 and lg.dropped == 0 and lg.write_errors == 3
    assert lg.stats()["written"] == 120
    lg.close()
