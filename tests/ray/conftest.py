"""The Ray tier: one small local Ray instance per test module (2 CPUs, no dashboard).

``address="local"`` always starts a fresh instance, never attaching to a ``ray start`` cluster that
another process on the machine may run. Tests that need their own cluster (two nodes, job
submission) do not use this fixture.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Ray Train V2's controller polls reports every 2 s by default; 0.1 s keeps per-epoch reports cheap.
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    import ray

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=256 * 1024**2,
        log_to_driver=False,
    )
    try:
        yield
    finally:
        ray.shutdown()
