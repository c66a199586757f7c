"""Alerts: events written to the store, deduplicated, delivered to a local log and apprise URLs.

Every event goes to the local sink (a JSON-lines file next to the store, and the ``energy``
logger); with ``alerts.urls`` in the config it also goes to each apprise URL (``slack://``,
``msteams://``, ``mailto://``, ``json://host/path`` webhooks, ...). An event of the same kind and
key as one notified less than ``cooldown_s`` ago is suppressed (not stored, not sent), so an
hourly check does not page the team every hour. A degradation or drift event also writes a
retraining request to the store (the retraining job consumes it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from energy.monitoring.config import AlertConfig
from energy.monitoring.store import Store, utcnow

log = logging.getLogger("energy.monitoring")

KINDS = frozenset(
    {
        "training_failed",
        "retraining_failed",
        "promotion_done",
        "promotion_blocked",
        "degradation",
        "drift",
        "serving_error_rate",
    }
)
RETRAIN_KINDS = frozenset({"degradation", "drift"})
SEVERITY = {"training_failed": "error", "retraining_failed": "error", "promotion_done": "info"}


@dataclass(frozen=True)
class Emitted:
    kind: str
    key: str
    event_id: int | None  # None: suppressed by the cooldown
    retrain_id: int | None = None
    delivered: tuple[str, ...] = ()  # sinks that took it ("log", apprise URL schemes)

    @property
    def suppressed(self) -> bool:
        return self.event_id is None


def default_log_file(store: Store) -> Path | None:
    """``alerts.jsonl`` next to a SQLite store; None for a server database."""
    db = store.engine.url.database
    if store.engine.url.get_backend_name() == "sqlite" and db and db != ":memory:":
        return Path(db).parent / "alerts.jsonl"
    return None


class Notifier:
    """Writes, deduplicates and delivers events.

    Args:
        store: where events and retraining requests go.
        cfg: apprise URLs, local log file, cooldown.
        clock: current UTC time (the benchmark replays with simulated time).
    """

    def __init__(
        self, store: Store, cfg: AlertConfig, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.store, self.cfg, self.clock = store, cfg, clock
        self.log_file = Path(cfg.log_file) if cfg.log_file else default_log_file(store)
        self._apprise: Any = None

    def emit(
        self,
        kind: str,
        key: str,
        message: str,
        *,
        payload: dict[str, Any] | None = None,
        severity: str | None = None,
        city_id: str | None = None,
        model_version: str | None = None,
    ) -> Emitted:
        """Record and deliver one event unless the same (kind, key) is cooling down.

        Raises:
            ValueError: ``kind`` is not one of :data:`KINDS`.
        """
        if kind not in KINDS:
            raise ValueError(f"kind: unknown event kind {kind!r} (expected one of {sorted(KINDS)})")
        now = self.clock()
        last = self.store.last_event_time(kind, key)
        if last is not None and (now - last).total_seconds() < self.cfg.cooldown_s:
            return Emitted(kind, key, None)
        severity = severity or SEVERITY.get(kind, "warning")
        body = {
            "kind": kind,
            "key": key,
            "severity": severity,
            "message": message,
            "at": now.isoformat(),
            **({"payload": payload} if payload else {}),
        }
        delivered = self._deliver(body)
        event_id = self.store.add_event(
            kind, key, message, severity=severity, payload=payload, notified=True, at=now
        )
        retrain_id = None
        if kind in RETRAIN_KINDS:
            retrain_id = self.store.add_retrain_request(
                kind,
                event_id=event_id,
                city_id=city_id,
                model_version=model_version,
                payload=payload,
                at=now,
            )
        return Emitted(kind, key, event_id, retrain_id, delivered)

    def _deliver(self, body: dict[str, Any]) -> tuple[str, ...]:
        sinks = []
        level = logging.ERROR if body["severity"] == "error" else logging.WARNING
        log.log(level, "alert %s [%s]: %s", body["kind"], body["key"], body["message"])
        if self.log_file is not None:
            try:
                self.log_file.parent.mkdir(parents=True, exist_ok=True)
                with self.log_file.open("a") as f:
                    f.write(json.dumps(body, default=str) + "\n")
                sinks.append("log")
            except OSError as e:
                log.warning("alert log %s: %s", self.log_file, e)
        if self.cfg.urls:
            sinks.extend(self._apprise_notify(body))
        return tuple(sinks)

    def _apprise_notify(self, body: dict[str, Any]) -> list[str]:
        import apprise

        if self._apprise is None:
            self._apprise = apprise.Apprise()
            for url in self.cfg.urls:
                if not self._apprise.add(url):
                    log.warning("alerts.urls: apprise does not accept %r", url.split("://")[0])
        title = f"[energy] {body['severity']}: {body['kind']} ({body['key']})"
        ntype = (
            apprise.NotifyType.FAILURE
            if body["severity"] == "error"
            else (
                apprise.NotifyType.WARNING
                if body["severity"] == "warning"
                else apprise.NotifyType.INFO
            )
        )
        try:
            ok = self._apprise.notify(title=title, body=body["message"], notify_type=ntype)
        except Exception as e:  # a notification problem must never break the caller
            log.warning("alerts: apprise delivery failed: %s", e)
            return []
        if not ok:
            log.warning("alerts: apprise reported a failed delivery for %s", body["kind"])
            return []
        return [u.split("://")[0] for u in self.cfg.urls]


def recent(store: Store, since: Any) -> pd.DataFrame:
    """Events created at or after ``since`` (UTC)."""
    return store.events(since=since)
