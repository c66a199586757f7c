"""The serve tier: real HTTP to a real Serve app on 127.0.0.1 (one Ray + Serve per module).

Each module gets a local Ray instance (2 CPUs, no dashboard, bound to 127.0.0.1) and Serve on a
free port (never 8000, so parallel runs do not collide); teardown shuts both down. Model packages
are tiny ensembles fitted on synthetic cities in seconds (tests/serve/packages.py).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tiny_packages import build_package, synthetic


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def tiny_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """XGBoost + LSTM + Transformer ensemble (tiny) on three synthetic cities."""
    return build_package(tmp_path_factory.mktemp("pkg") / "tiny", synthetic())


@pytest.fixture(scope="module")
def serve_url() -> Iterator[str]:
    """Base URL of a fresh local Ray + Serve (apps are added by the tests' fixtures)."""
    import ray
    from ray import serve

    ray.init(
        address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
        object_store_memory=128 * 1024**2, log_to_driver=False,
    )  # fmt: skip
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
