"""The registry side of promotion: register, gate, roll back, one champion at a time.

:func:`gate` applies :func:`energy.promotion.is_performance_improved` to a registered version: it
reads the champion, gets its metrics on the challenger's protocol (from its tags, or by refitting
its config on the same data), decides, and moves the ``champion`` alias under :func:`lock` only
if the champion is still the one it compared against (compare-and-set; otherwise it decides
again). So concurrent promotions never lose a better champion, and the alias never names zero or
two versions (an alias names one version; moving it is one update). Every move is appended to
the registered model's ``champion_history`` tag, which :func:`rollback` replays. Every decision
is tagged on the version (``gate.*``) and logged as a ``promotion`` run. A move is written
ahead (history event ``pending``, alias, done), so a crash in between is completed under the next
lock. All MLflow calls go through :mod:`energy.tracking`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from energy import tracking
from energy.lifecycle.promotion import (
    Decision,
    Progress,
    Protocol,
    is_performance_improved,
    score,
    summarize,
    version_tags,
)

if TYPE_CHECKING:
    from energy.config.experiment import PromotionSettings
    from energy.data.dataset import Dataset

HISTORY_TAG = "champion_history"


def _quiet(_: str) -> None:
    return None


@contextlib.contextmanager
def lock(name: str, *, timeout_s: float = 120.0, stale_s: float = 300.0) -> Iterator[None]:
    """A mutex shared by every process using the same registry (local store or server).

    A local store (``sqlite:`` or a folder) is locked with an OS file lock next to it
    (``filelock``): the kernel releases it when its holder dies, so it is never stale and never
    held twice. A tracking server has no shared file system: there the lock is the registered
    model ``<name>.lock`` (the store's unique key on names makes the create atomic), and a lock
    older than ``stale_s`` (its holder died) is broken by compare-and-set (:func:`_break_stale`).
    Waiting longer than ``timeout_s`` raises :class:`~energy.tracking.TrackingError`.
    """
    path = _local_lock_path(name)
    if path is None:
        with _registry_lock(name, timeout_s, stale_s):
            yield
        return
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    file_lock = FileLock(str(path))
    try:
        file_lock.acquire(timeout=timeout_s)
    except Timeout:
        raise tracking.TrackingError(
            f"registry lock {str(path)!r} held by another process for over {timeout_s:.0f} s"
        ) from None
    try:
        yield
    finally:
        file_lock.release()


def _local_lock_path(name: str) -> Path | None:
    """The lock file of ``name`` beside a local store; None for a tracking server."""
    uri = tracking.tracking_uri()
    safe = hashlib.sha256(name.encode()).hexdigest()[:16]
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///")).absolute()
        return db.parent / f"{db.name}.registry-{safe}.lock"
    if uri.startswith("file:") or "://" not in uri:
        root = Path(uri.removeprefix("file://").removeprefix("file:")).absolute()
        return root / f".registry-{safe}.lock"
    return None


@contextlib.contextmanager
def _registry_lock(name: str, timeout_s: float, stale_s: float) -> Iterator[None]:
    key = f"{name}.lock"
    owner = f"{os.uname().nodename}:{os.getpid()}:{time.time():.6f}"
    deadline, delay = time.monotonic() + timeout_s, 0.05
    while not tracking.create_model(key, {"owner": owner, "at": f"{time.time():.3f}"}):
        held = tracking.model_tags(key, missing_ok=True)
        if held and time.time() - float(held.get("at", time.time())) > stale_s:
            _break_stale(key, held.get("owner", ""), stale_s)
            continue
        if time.monotonic() > deadline:
            raise tracking.TrackingError(
                f"registry lock {key!r} held by another process for over {timeout_s:.0f} s; "
                f"if its holder died, delete the registered model {key!r}"
            )
        time.sleep(delay)  # back off: a retry loop on a shared store, not test synchronisation
        delay = min(delay * 2, 1.0)
    try:
        yield
    finally:
        if tracking.model_tags(key, missing_ok=True).get("owner") == owner:
            tracking.delete_model(key)


def _break_stale(key: str, stale_owner: str, stale_s: float) -> None:
    """Delete the lock ``key`` only if ``stale_owner`` still holds it, and only once.

    Every waiter that saw the same stale owner races to create the marker model
    ``<key>.break.<owner hash>``; the one that wins re-reads the lock and deletes it only if its
    owner is unchanged (a lock taken meanwhile by a live process is kept). The losers just try
    to acquire again. A marker left by a breaker that died is itself broken after ``stale_s``.
    """
    marker = f"{key}.break.{hashlib.sha256(stale_owner.encode()).hexdigest()[:12]}"
    if not tracking.create_model(marker, {"at": f"{time.time():.3f}"}):
        seen = tracking.model_tags(marker, missing_ok=True)
        if seen and time.time() - float(seen.get("at", time.time())) > stale_s:
            tracking.delete_model(marker)
        return
    try:
        if tracking.model_tags(key, missing_ok=True).get("owner") == stale_owner:
            tracking.delete_model(key)
    finally:
        tracking.delete_model(marker)


def _champion_metrics(
    champion: tracking.RegisteredVersion,
    protocol: Protocol | None,
    data: Dataset | None,
    progress: Progress,
) -> tuple[dict[str, Any] | None, str]:
    """The champion's metrics on the challenger's ``protocol``: from its tags, an earlier
    re-evaluation, or a refit of its config on ``data`` (tagged on the version for next time)."""
    if protocol is None:
        return None, ""
    if champion.tags.get("protocol_id") == protocol.id:
        return champion.metrics, "tags"
    cached = champion.tags.get(f"reeval.{protocol.id}")
    if cached:
        return json.loads(cached), "re-evaluated"
    if data is None or data.manifest.get("content_hash") != protocol.data_hash:
        return None, ""
    from energy.config.experiment import ExperimentConfig
    from energy.forecast.package import PACKAGE_FILE
    from energy.lifecycle.experiment import build_model

    progress(f"champion v{champion.version} was scored on another protocol: refitting its config")
    pkg = tracking.download_package(champion).package_dir
    assert pkg is not None
    meta = json.loads((pkg / PACKAGE_FILE).read_text())
    cfg = ExperimentConfig.model_validate(meta["config"])
    model = build_model(cfg, str(meta.get("train_kind", "ensemble")))
    result = score(model, cfg, data.select(list(protocol.cities)), protocol, progress=progress)
    metrics = summarize(result)
    tags = {f"reeval.{protocol.id}": json.dumps(metrics)}
    tracking.set_version_tags(champion.name, champion.version, tags)
    return metrics, "re-evaluated"


def protocol_of(v: tracking.RegisteredVersion) -> Protocol | None:
    """The protocol a version was scored on (from its ``protocol`` tag), if any."""
    d = json.loads(v.tags.get("protocol") or "{}")
    if not d:
        return None
    return Protocol(d["data_hash"], tuple(d["cities"]), d["start"], d["end"], int(d["horizon"]))


def _history(name: str) -> list[dict[str, Any]]:
    return list(json.loads(tracking.model_tags(name).get(HISTORY_TAG, "[]")))


def _stack(history: list[dict[str, Any]]) -> list[str]:
    """Champions in order, replaying promotions (push) and rollbacks (pop)."""
    stack: list[str] = []
    for e in history:
        if e["action"] == "rollback" and stack:
            stack.pop()
        elif e["action"] != "rollback":
            stack.append(str(e["version"]))
    return stack


def _record(name: str, event: dict[str, Any]) -> None:
    history = [*_history(name), event][-200:]
    tracking.set_model_tag(name, HISTORY_TAG, json.dumps(history))


def _move(name: str, event: dict[str, Any]) -> None:
    """Move ``champion`` to ``event["version"]`` and record it, as one step (under :func:`lock`).

    The store cannot update an alias and a tag in one transaction, so the move is written ahead:
    the event is recorded ``pending`` first, then the alias moves, then the event is marked
    done. A process that dies in between leaves a pending event that :func:`_recover` completes
    under the next lock, so history and alias never disagree for longer than a crash.
    """
    _record(name, event | {"pending": True})
    tracking.set_alias(name, "champion", str(event["version"]))
    _finish(name)


def _finish(name: str) -> None:
    history = _history(name)
    if history and history[-1].pop("pending", False):
        tracking.set_model_tag(name, HISTORY_TAG, json.dumps(history))


def _recover(name: str, progress: Progress = _quiet) -> None:
    """Complete a move interrupted by a crash (a ``pending`` last event; call under the lock)."""
    history = _history(name)
    if not history or not history[-1].get("pending"):
        return
    last = history[-1]
    current = tracking.alias_version(name, "champion")
    if current != str(last["version"]) and current == last.get("previous"):
        progress(f"completing an interrupted {last['action']}: champion → v{last['version']}")
        tracking.set_alias(name, "champion", str(last["version"]))
    _finish(name)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def gate(
    name: str,
    version: str,
    settings: PromotionSettings,
    *,
    data: Dataset | None = None,
    metrics: Mapping[str, Any] | None = None,
    protocol: Protocol | None = None,
    force: bool = False,
    reason: str = "",
    progress: Progress = _quiet,
) -> Decision:
    """Run the gate for ``version`` of ``name`` and promote it to ``champion`` if it passes.

    The champion is compared on the challenger's protocol (re-evaluated on ``data`` when it was
    scored on another). The alias moves under the registry lock, only if the champion is still
    the version compared against; otherwise the gate runs again. The decision is tagged on the
    version (``gate.*``) and logged as a ``promotion`` run.

    Args:
        name, version: the registered version to decide on (the challenger).
        settings: the deciding metric, margin and per-city tolerance.
        data: the data set to re-evaluate a champion scored on another protocol.
        metrics, protocol: the challenger's metrics (``{"overall": ..., "per_city": ...}``) and
            protocol as values, from the run that just scored it; None: read from its tags.
        force, reason: promote without the gate, recording why.
        progress: receives one line per step.
    """
    challenger = tracking.get_version(name, version)
    ours = dict(metrics) if metrics is not None else challenger.metrics
    protocol = protocol if protocol is not None else protocol_of(challenger)
    for _ in range(10):
        current = tracking.alias_version(name, "champion")
        if current == challenger.version:
            return Decision(False, "already the champion", settings.metric)
        champ = tracking.get_version(name, current) if current else None
        theirs, source = (None, "")
        if champ is not None:
            theirs, source = _champion_metrics(champ, protocol, data, progress)
        if force:
            d = Decision(True, f"forced: {reason or 'no reason given'}", settings.metric)
        elif champ is not None and theirs is None:
            d = Decision(
                False,
                f"champion v{champ.version} was scored on another protocol; pass the data set "
                "(--data) to re-evaluate it, or --force",
                settings.metric,
            )
        else:
            d = is_performance_improved(
                ours,
                theirs,
                metric=settings.metric,
                margin=settings.margin,
                city_tolerance=settings.city_tolerance,
            )
        d = Decision(**{**d.as_dict(), "champion_version": current, "champion_source": source})
        with lock(name):
            _recover(name, progress)
            if tracking.alias_version(name, "champion") != current:
                progress("the champion changed while deciding: deciding again")
                continue
            if d.promote:
                event = {"action": "promote", "version": challenger.version, "previous": current}
                _move(name, event | {"at": _now(), "reason": d.reason})
            tracking.set_version_tags(
                name,
                challenger.version,
                {"gate.decision": "promoted" if d.promote else "rejected", "gate.reason": d.reason,
                 "gate.champion": current or "", "gate.at": _now()},
            )  # fmt: skip
        break
    else:
        raise tracking.TrackingError(f"{name}: the champion kept changing; gate not applied")
    _log_decision(name, challenger, d, settings)
    progress(f"{'promoted' if d.promote else 'not promoted'} v{challenger.version}: {d.reason}")
    return d


def _log_decision(
    name: str, v: tracking.RegisteredVersion, d: Decision, settings: PromotionSettings
) -> None:
    params = settings.model_dump() | {
        "version": v.version,
        "protocol_id": v.tags.get("protocol_id"),
    }
    tags = {"decision": "promoted" if d.promote else "rejected", "reason": d.reason}
    with tracking.start_run(f"gate {name} v{v.version}", kind="promotion", params=params,
                            tags=tags) as run:  # fmt: skip
        nums = {"challenger": d.challenger, "champion": d.champion, "improvement": d.improvement}
        run.log_metrics({k: v for k, v in nums.items() if v is not None})
        run.log_dict(d.as_dict(), "decision.json")


def rollback(name: str, reason: str, *, progress: Progress = _quiet) -> tuple[str, str]:
    """Move ``champion`` back to the previous champion; returns (from, to) versions."""
    with lock(name):
        _recover(name, progress)
        current = tracking.alias_version(name, "champion")
        stack = _stack(_history(name))
        if current is None or len(stack) < 2 or stack[-1] != current:
            raise ValueError(
                f"rollback: {name!r} has no previous champion to return to "
                f"(champion {current}, history {stack})"
            )
        target = stack[-2]
        _move(
            name,
            {"action": "rollback", "version": target, "previous": current, "at": _now(),
             "reason": reason},
        )  # fmt: skip
        tracking.set_version_tags(name, current, {"rolled_back": f"{_now()}: {reason}"})
    with tracking.start_run(f"rollback {name} v{current} → v{target}", kind="promotion",
                            tags={"decision": "rollback", "reason": reason}):  # fmt: skip
        pass
    progress(f"champion of {name}: v{current} → v{target} ({reason})")
    return current, target


def register(
    pkg_dir: str | Path,
    name: str,
    *,
    model_uri: str | None = None,
    tags: Mapping[str, str] | None = None,
    progress: Progress = _quiet,
) -> str:
    """Register a package as a new version (alias ``challenger``).

    Args:
        pkg_dir: the model package directory.
        name: the registered model.
        model_uri: the package already logged by a training run (else it is logged now).
        tags: the version's tags (:func:`~energy.lifecycle.promotion.version_tags`); None:
            built from the package's package.json.
        progress: receives one line.
    """
    if tags is None:
        tags = version_tags(json.loads((Path(pkg_dir) / "package.json").read_text()))
    if model_uri:
        version = tracking.register_model(model_uri, name=name, tags=tags)
    else:
        version = tracking.register_package(pkg_dir, name=name, tags=tags)
    progress(f"registered {name} v{version} (alias challenger)")
    return version
