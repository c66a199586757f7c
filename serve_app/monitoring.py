"""Monitoring inside a Serve replica: log what was served, take actuals, answer the summary.

The replica owns one :class:`ReplicaMonitor`. On the request path it only builds the records of a
response and puts them on the logger's bounded queue (never waits for the store, never raises);
a background thread of the logger writes them to the monitoring store (``ENERGY_MONITOR_DB`` or
the deployment's ``monitor_db`` setting). Prometheus metrics (exported by Ray as ``ray_<name>``):
latency by route and model version, errors by route, logger queue and drops, replica CPU and
memory. A serving error share above ``alerts.error_rate`` over the last minute raises a
``serving_error_rate`` alert.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pandas as pd
from ray.serve import metrics

from energy.monitoring import actuals as actuals_mod
from energy.monitoring import report
from energy.monitoring.alerts import Notifier
from energy.monitoring.checks import error_rate_check
from energy.monitoring.config import MonitorConfig
from energy.monitoring.logger import ForecastLogger
from energy.monitoring.store import ForecastRecord, Store, open_store
from energy.schema import SchemaError
from serve_app.schemas import ForecastRequest, ForecastResponse
from serve_app.service import RenderedForecast

log = logging.getLogger("energy.serve")


def _records_of(
    resp: ForecastResponse | RenderedForecast,
    req: ForecastRequest | None,
    arm: str,
    served_at: datetime,
) -> list[ForecastRecord]:
    """:func:`_records` of a response, parsing a rendered body first (in the logger's thread)."""
    if isinstance(resp, RenderedForecast):
        resp = resp.response()
    return _records(resp, req, arm, served_at)


def _records(
    resp: ForecastResponse, req: ForecastRequest | None, arm: str, served_at: datetime
) -> list[ForecastRecord]:
    """One record per forecast hour, with the temperature the request supplied for it."""
    temps: dict[pd.Timestamp, float | None] = {}
    if req is not None and req.weather:
        temps = {pd.Timestamp(w.timestamp).tz_convert("UTC"): w.temperature_c for w in req.weather}
    rid = uuid.uuid4().hex[:16]
    return [
        ForecastRecord(
            rid, resp.city_id, resp.start, p.timestamp, i + 1, p.forecast_mw, resp.model.name,
            resp.model.version, arm, served_at,
            temps.get(pd.Timestamp(p.timestamp)) if temps else None,
        )
        for i, p in enumerate(resp.points)
    ]  # fmt: skip


class StoreUnavailable(Exception):
    """The monitoring store cannot be reached (the API answers 503)."""


class ReplicaMonitor:
    """Per-replica logger, store handle and metrics.

    Args:
        db_url: the store's URL (None: ``ENERGY_MONITOR_DB`` or the state folder's SQLite file).
        cfg: monitoring settings (logger queue, alert thresholds).
        period_s: how often the resource gauges and the error-rate check run.
    """

    def __init__(
        self, db_url: str | None = None, cfg: MonitorConfig | None = None, period_s: float = 5.0
    ) -> None:
        self.cfg = cfg or MonitorConfig()
        self.url = db_url or self.cfg.db_url
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        lc = self.cfg.logger
        self.logger = ForecastLogger(
            self._write, queue_size=lc.queue_size, batch_size=lc.batch_size,
            flush_s=lc.flush_s, retry_s=lc.retry_s,
        ).start()  # fmt: skip
        self._requests: dict[str, list[int]] = {}  # route → [total, errors] this period
        self._reported_drops = 0
        self._m_latency = metrics.Histogram(
            "energy_serve_latency_ms", "Replica time per request by route and model version (ms)",
            boundaries=[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
            tag_keys=("route", "model_version"),  # type: ignore[arg-type]
        )  # fmt: skip
        self._m_errors = metrics.Counter(
            "energy_serve_errors",
            "Requests answered with a 4xx/5xx",
            tag_keys=("route", "status"),  # type: ignore[arg-type]
        )
        self._m_drops = metrics.Counter(
            "energy_monitor_dropped_records", "Served-forecast records dropped (queue full)"
        )
        self._m_queue = metrics.Gauge("energy_monitor_queue", "Records waiting to be written")
        self._m_cpu = metrics.Gauge("energy_replica_cpu_percent", "Replica process CPU %")
        self._m_rss = metrics.Gauge("energy_replica_memory_mb", "Replica process RSS (MB)")
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._tick_loop, args=(period_s,), name="replica-monitor", daemon=True
        )
        self._thread.start()

    # ---- store --------------------------------------------------------------------------------
    def store(self) -> Store:
        """The store, opened (and migrated) on first use; raises :class:`StoreUnavailable`."""
        with self._store_lock:
            if self._store is None:
                try:
                    self._store = open_store(self.url, lock_timeout_s=5.0)
                except Exception as e:
                    raise StoreUnavailable(
                        f"monitoring store unavailable: {' '.join(str(e).split())[:200]}"
                    ) from e
            return self._store

    def _write(self, batch: Sequence[ForecastRecord]) -> None:
        self.store().add_forecasts(batch)

    # ---- request path -------------------------------------------------------------------------
    def log_forecast(
        self,
        resp: ForecastResponse | RenderedForecast,
        req: ForecastRequest | None = None,
        arm: str = "champion",
    ) -> None:
        """Queue one response (its records are built, and a rendered body parsed, in the
        logger's thread: nothing but a queue put on the request path); never raises."""
        n = resp.horizon_hours if isinstance(resp, RenderedForecast) else len(resp.points)
        try:
            self.logger.log(partial(_records_of, resp, req, arm, datetime.now(UTC)), n)
        except Exception:  # the request must not fail because of its log record
            self.logger.dropped += n

    def observe(self, route: str, status: int, t0: float, version: str | None) -> None:
        """Latency (by route and model version) and error counts of one request."""
        self._m_latency.observe(
            (time.perf_counter() - t0) * 1000,
            tags={"route": route, "model_version": version or "-"},
        )
        counts = self._requests.setdefault(route, [0, 0])
        counts[0] += 1
        if status >= 400:
            counts[1] += 1
            self._m_errors.inc(tags={"route": route, "status": str(status)})

    # ---- routes' work (called in a worker thread) -------------------------------------------
    def ingest_actuals(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Validate and upsert actuals. Raises SchemaError (422) or StoreUnavailable (503)."""
        store = self.store()
        try:
            return actuals_mod.ingest_records(store, rows)
        except SchemaError:
            raise
        except Exception as e:
            raise StoreUnavailable(f"monitoring store: {' '.join(str(e).split())[:200]}") from e

    def summary(self, since: str) -> dict[str, Any]:
        """:func:`energy.monitoring.report.summary` plus this replica's logger counters."""
        window = report.parse_since(since)  # ValueError naming --since → 422
        try:
            out = report.summary(self.store(), window)
        except StoreUnavailable:
            raise
        except Exception as e:
            raise StoreUnavailable(f"monitoring store: {' '.join(str(e).split())[:200]}") from e
        out["replica_logger"] = self.logger.stats()
        return out

    # ---- background ---------------------------------------------------------------------------
    def _tick_loop(self, period_s: float) -> None:
        import psutil

        proc = psutil.Process()
        proc.cpu_percent(None)
        while not self._stop.wait(period_s):
            try:
                self._m_cpu.set(proc.cpu_percent(None))
                self._m_rss.set(proc.memory_info().rss / 2**20)
                self._m_queue.set(self.logger.queued)
                drops = self.logger.dropped
                if drops > self._reported_drops:
                    self._m_drops.inc(drops - self._reported_drops)
                    self._reported_drops = drops
                self._check_error_rate()
            except Exception:  # metrics must never take the replica down
                log.exception("serve: monitoring tick failed")

    def _check_error_rate(self) -> None:
        counts, self._requests = self._requests, {}
        for route, (total, errors) in counts.items():
            if total < 20 or errors / total <= self.cfg.alerts.error_rate:
                continue
            try:
                error_rate_check(Notifier(self.store(), self.cfg.alerts), route, errors, total,
                                 self.cfg.alerts.error_rate)  # fmt: skip
            except Exception as e:  # store down: the log line is the alert
                log.error("serve: %s: %d of %d requests failed (%s)", route, errors, total, e)

    def close(self) -> None:
        self._stop.set()
        self.logger.close(timeout=2.0)
