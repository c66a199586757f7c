"""`energy serve` and the demo's serving half as a user runs them (subprocesses, real HTTP)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import free_port
from tiny_packages import build_package

from energy.data.dataset import read_dataset

pytestmark = pytest.mark.serve


def run(*args: object, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_holdout_serve_ask_and_stop(tmp_path: Path) -> None:
    full, cut = tmp_path / "full", tmp_path / "cut"
    proc = run("-m", "energy", "data", "synth", "--cities", "2", "--days", "45", "--out", full)
    assert proc.returncode == 0, proc.stderr
    proc = run("-m", "serve_app.demo", "holdout", "--data", full, "--cities", "syn-000,syn-001",
               "--hours", "24", "--out", cut)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    pkg = build_package(tmp_path / "pkg", read_dataset(cut, verify=True))
    port = free_port()
    proc = run("-m", "serve_app.demo", "ask", "--data", full, "--city", "syn-001",
               "--port", port, "--package", pkg)  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, (out, proc.stderr[-3000:])
    assert "[demo] ready: " in out and "version pkg-" in out
    assert "forecast MW" in out and "actual MW" in out
    assert "MAPE over the 24 held-out hours" in out  # forecasts sit next to real actuals
    assert "[demo] stopping the server" in out
    # it stopped what it started: Ray's worker processes (the HTTP proxy among them) exit once
    # their raylet is gone, within seconds
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except requests.ConnectionError:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"port {port} still answers a minute after the demo stopped its server")


def test_serve_rejects_a_bad_package(tmp_path: Path) -> None:
    proc = run("-m", "energy", "serve", "--package", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: --package:")
