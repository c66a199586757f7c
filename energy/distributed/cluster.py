"""Connecting to Ray: the cluster in ``RAY_ADDRESS`` (or an explicit address), else a fresh local
instance sized to the machine.

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


@dataclass(frozen=True)
class ClusterInfo:
    """What the driver is connected to."""

    address: str  # "local" for an instance started by this process
    nodes: int
    cpus: float
    gpus: float
    started_here: bool

    def __str__(self) -> str:
        where = "a local Ray instance" if self.address == "local" else f"Ray at {self.address}"
        return f"{where}: {self.nodes} node(s), {self.cpus:g} CPUs, {self.gpus:g} GPUs"


def connect(address: str | None = None, *, num_cpus: int | None = None) -> ClusterInfo:
    """Join a Ray cluster, or start a local one; reuses a connection this process already has.

    Args:
        address: cluster address (``ray://…``, ``host:port``, ``auto``); None: ``RAY_ADDRESS``
            when set, else a local instance.
        num_cpus: local instance only: CPUs to offer (None: the machine's, as Ray detects them).
    """
    target = address or os.environ.get("RAY_ADDRESS") or None
    started = False
    if not ray.is_initialized():
        os.environ.setdefault(HEALTH_CHECK_ENV, HEALTH_CHECK_S)  # inherited by local workers
        if target:
            ray.init(address=target, log_to_driver=True)
        else:
            # with the dashboard (127.0.0.1 only): Ray Train V2's placement-group cleaner asks
            # the state API, which needs it, and warns every second without it
            ray.init(
                address="local",
                num_cpus=num_cpus,
                include_dashboard=True,
                dashboard_host="127.0.0.1",
            )
        started = True
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    res = ray.cluster_resources()
    info = ClusterInfo(
        address=target or "local",
        nodes=len(nodes),
        cpus=float(res.get("CPU", 0)),
        gpus=float(res.get("GPU", 0)),
        started_here=started,
    )
    log.info("connected to %s", info)
    return info


@contextmanager
def ray_session(
    address: str | None = None, *, num_cpus: int | None = None
) -> Iterator[ClusterInfo]:
    """:func:`connect` for a block; shuts Ray down afterwards if this block started it."""
    info = connect(address, num_cpus=num_cpus)
    try:
        yield info
    finally:
        if info.started_here:
            ray.shutdown()


def has_gpus() -> bool:
    """Whether the connected cluster offers any GPU."""
    return float(ray.cluster_resources().get("GPU", 0)) > 0
