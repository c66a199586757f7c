"""Issue 18, item 8: the registry lock is never held twice and champion moves are atomic.

A local store is locked with an OS file lock (released by the kernel when its holder dies: never
stale); a tracking server's registry lock breaks a stale lock by compare-and-set; an alias move
interrupted between the history record and the alias is completed under the next lock."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from test_registry import champions, register_with

from energy import tracking
from energy.lifecycle import champion as registry

pytestmark = pytest.mark.mlflow

HOLD = """
import sys
from energy.lifecycle import champion
with champion.lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()  # held until killed
"""


def test_a_local_lock_dies_with_its_holder(model_name) -> None:
    assert registry._local_lock_path(model_name) is not None  # the session's SQLite store
    p = subprocess.Popen([sys.executable, "-c", HOLD, model_name], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        held = pytest.raises(tracking.TrackingError, match="held by another process")
        with held, registry.lock(model_name, timeout_s=0.3):
            pass
        p.kill()  # the holder dies without releasing: the kernel releases the file lock
        p.wait(timeout=30)
        with registry.lock(model_name, timeout_s=30):
            pass
    finally:
        if p.poll() is None:
            p.kill()


def test_a_stale_server_lock_is_broken_once(model_name, monkeypatch) -> None:
    """Regression: two waiters that both saw the same stale lock deleted it one after the other,
    the second deleting the lock the first had just taken (both then held it)."""
    monkeypatch.setattr(registry, "_local_lock_path", lambda name: None)  # as with a server
    key = f"{model_name}.lock"
    assert tracking.create_model(key, {"owner": "dead:1:0", "at": f"{time.time() - 3600:.3f}"})
    with registry.lock(model_name, timeout_s=30, stale_s=60):  # the first waiter breaks it
        mine = tracking.model_tags(key)["owner"]
        assert mine != "dead:1:0"
        registry._break_stale(key, "dead:1:0", 60)  # the second waiter, late, same stale owner
        assert tracking.model_tags(key, missing_ok=True).get("owner") == mine  # still ours
    assert tracking.model_tags(key, missing_ok=True) == {}  # released


def test_an_interrupted_promotion_is_completed_under_the_next_lock(
    trained, model_name, monkeypatch
) -> None:
    v1 = register_with(trained, model_name, 7.0)
    v2 = register_with(trained, model_name, 5.0)
    settings = registry_settings()
    assert registry.gate(model_name, v1, settings).promote
    real = tracking.set_alias

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("the process died between the history and the alias")

    monkeypatch.setattr(tracking, "set_alias", crash)
    with pytest.raises(KeyboardInterrupt):
        registry.gate(model_name, v2, settings)
    monkeypatch.setattr(tracking, "set_alias", real)
    history = json.loads(tracking.model_tags(model_name)[registry.HISTORY_TAG])
    assert history[-1]["pending"] and champions(model_name) == [v1]
    with registry.lock(model_name):
        registry._recover(model_name)
    history = json.loads(tracking.model_tags(model_name)[registry.HISTORY_TAG])
    assert champions(model_name) == [v2] and "pending" not in history[-1]
    assert registry.rollback(model_name, "test") == (v2, v1)  # the history replays as one chain


def registry_settings():
    from energy.config.experiment import PromotionSettings

    return PromotionSettings()
