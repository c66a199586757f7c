"""The one way into Ray: :func:`connect` joins the cluster in ``RAY_ADDRESS`` (or an explicit
address), else starts a fresh local instance.

Only the edges call it: the CLI commands, the ``jobs/`` entry points and ``serve_app``. Library
code (training backends, Tune, the fan-out) runs on the connection it finds and never starts Ray
itself: :func:`current` says what it is connected to, or fails with :class:`NotConnectedError`.

``address="local"`` always starts a new instance: a plain ``ray.init()`` would silently attach to
any ``ray start`` cluster already running on the machine. Inside a job submitted with
``ray job submit``, ``RAY_ADDRESS`` is set and the job joins its cluster.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import ray

from energy.distributed.settings import HEALTH_CHECK_ENV, HEALTH_CHECK_S

log = logging.getLogger(__name__)
_ADDRESS: str | None = None  # what connect() was given ("local": an instance started here)


class NotConnectedError(RuntimeError):
    """Library code was asked to use Ray before the entry point connected to it."""


@dataclass(frozen=True)
class ClusterInfo:
    """What the driver is connected to."""

    address: str  # "local" for an instance started by this process
    nodes: int
    cpus: float
    gpus: float
    started_here: bool  # this call connected (and a `ray_session` block disconnects)

    def __str__(self) -> str:
        where = "a local Ray instance" if self.address == "local" else f"Ray at {self.address}"
        return f"{where}: {self.nodes} node(s), {self.cpus:g} CPUs, {self.gpus:g} GPUs"


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    dashboard: bool = True,
    loopback: bool = False,
    log_to_driver: bool = True,
) -> ClusterInfo:
    """Join a Ray cluster, or start a local one; reuses a connection this process already has.

    Args:
        address: cluster address (``ray://…``, ``host:port``, ``auto``); None: ``RAY_ADDRESS``
            when set, else a new local instance.
        num_cpus: local instance only: CPUs to offer (None: the machine's, as Ray detects them).
        dashboard: local instance only: run the dashboard (on 127.0.0.1). Ray Train V2's
            placement-group cleaner asks the state API, which needs it, and warns every second
            without it; Serve alone does without (about 0.85 GiB less memory).
        loopback: local instance only: the node's address is 127.0.0.1 (serving on loopback).
        log_to_driver: forward the workers' stdout and stderr to this process.
    """
    target = address or os.environ.get("RAY_ADDRESS") or None
    started = False
    if not ray.is_initialized():
        os.environ.setdefault(HEALTH_CHECK_ENV, HEALTH_CHECK_S)  # inherited by local workers
        if target:
            ray.init(address=target, log_to_driver=log_to_driver)
        else:
            ray.init(
                address="local", num_cpus=num_cpus, include_dashboard=dashboard,
                dashboard_host="127.0.0.1", log_to_driver=log_to_driver,
                _node_ip_address="127.0.0.1" if loopback else None,
            )  # fmt: skip
        started = True
        global _ADDRESS
        _ADDRESS = target or "local"
    info = _describe(target or "local", started)
    log.debug("connected to %s", info)
    return info


@contextmanager
def ray_session(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    dashboard: bool = True,
    loopback: bool = False,
    log_to_driver: bool = True,
) -> Iterator[ClusterInfo]:
    """:func:`connect` for a block; disconnects afterwards (stopping a local instance) if this
    block connected."""
    info = connect(
        address, num_cpus=num_cpus, dashboard=dashboard, loopback=loopback,
        log_to_driver=log_to_driver,
    )  # fmt: skip
    try:
        yield info
    finally:
        if info.started_here:
            disconnect()


def current() -> ClusterInfo:
    """What this process is connected to; :class:`NotConnectedError` when it is not."""
    if not ray.is_initialized():
        raise NotConnectedError(
            "Ray is not connected: the entry point connects first "
            "(energy.distributed.connect(), or `with ray_session():`)"
        )
    address = _ADDRESS if _ADDRESS is not None else ray.get_runtime_context().gcs_address
    return _describe(str(address), False)


def disconnect() -> None:
    """Leave Ray (a local instance started here stops with it)."""
    global _ADDRESS
    ray.shutdown()
    _ADDRESS = None


def has_gpus() -> bool:
    """Whether the connected cluster offers any GPU."""
    return float(ray.cluster_resources().get("GPU", 0)) > 0


def _describe(address: str, started: bool) -> ClusterInfo:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    res = ray.cluster_resources()
    return ClusterInfo(
        address=address, nodes=len(nodes), cpus=float(res.get("CPU", 0)),
        gpus=float(res.get("GPU", 0)), started_here=started,
    )  # fmt: skip
