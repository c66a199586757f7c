"""Notifications about retraining: a JSON webhook, or the ``energy`` logger only.

A small stand-in for the monitoring package's alerts (apprise URLs, deduplication) until the
retraining job sends its events there: ``webhook(url)`` POSTs ``{"kind": ..., **payload}``.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

log = logging.getLogger("energy.retrain")
Notify = Callable[[str, dict[str, Any]], None]


def log_only(kind: str, payload: dict[str, Any]) -> None:
    """Log the event (level WARNING for failures and refusals)."""
    level = logging.INFO if kind.endswith("_done") else logging.WARNING
    log.log(level, "%s: %s", kind, json.dumps(payload, default=str)[:2000])


def webhook(url: str | None, *, timeout_s: float = 10.0) -> Notify:
    """A notifier that logs every event and POSTs it as JSON to ``url`` (None: log only).

    Delivery errors are logged, never raised: a failed notification must not hide the failure
    it reports.
    """

    def send(kind: str, payload: dict[str, Any]) -> None:
        log_only(kind, payload)
        if not url:
            return
        body = json.dumps({"kind": kind, **payload}, default=str).encode()
        req = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                resp.read()
        except OSError as e:
            log.error("notification to %s failed: %s", url, e)

    return send
