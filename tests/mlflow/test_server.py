"""register → promote → load by alias once against a real `mlflow server` on 127.0.0.1.

The server gets its own backend store and artifact root (artifacts are proxied over HTTP, as
with a remote server), runs in its own process group and is stopped with SIGTERM to that group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from energy import tracking
from energy.config.experiment import PromotionSettings
from energy.forecast.package_io import read_package
from energy.lifecycle import champion as registry

pytestmark = pytest.mark.mlflow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "server"
    root.mkdir()
    port = _free_port()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while not _healthy(url):  # readiness poll of a server we started, not test ordering
            assert proc.poll() is None, (root / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server not healthy after 300 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_register_promote_load_by_alias_on_a_real_server(
    mlflow_server, monkeypatch, trained, model_name, tmp_path
):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    version = registry.register(trained["out"], model_name)  # logged anew: a new store
    assert registry.gate(model_name, version, PromotionSettings()).promote
    assert tracking.alias_version(model_name, "champion") == version

    got = tracking.resolve_alias(model_name, dst=tmp_path / "download")
    assert got.version == version and got.tags["config_name"] == "tiny"
    pkg = read_package(trained["out"])
    expected = pkg.forecast(pkg.cities, horizon=24)
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    import pandas as pd

    out = model.predict(pd.DataFrame({"city_id": pkg.cities, "horizon_hours": 24}))
    np.testing.assert_allclose(out["yhat"], expected["yhat"], rtol=0, atol=1e-9)
    # the run and its artifacts live on the server, not in the session's SQLite store
    run = tracking.client().get_run(got.run_id)
    assert run.data.tags["energy.kind"] == "register"
    assert mlflow.get_tracking_uri() == mlflow_server
