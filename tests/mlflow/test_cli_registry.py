"""`energy train` registers and gates; `energy registry list | show | promote | rollback`.

The first command runs as a user runs it (a subprocess through ``main``); the others run
in-process through typer's test runner to save the interpreter start-ups on 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow_helpers import TINY

from energy import tracking

pytestmark = pytest.mark.mlflow


def energy(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "energy", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def cli(*args: str | Path) -> Any:
    """In-process run of the CLI (``result.exit_code``, ``.stdout``, ``.stderr``)."""
    from typer.testing import CliRunner

    from energy.cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


def ok(proc: Any) -> str:
    assert proc.returncode == 0 if hasattr(proc, "returncode") else proc.exit_code == 0, (
        proc.stderr[-3000:] + repr(getattr(proc, "exception", ""))
    )
    return str(proc.stdout)


def test_train_registers_gates_and_registry_commands(tmp_path, synth_data, model_name):
    cfg = TINY | {"promotion": TINY["promotion"] | {"registered_model": model_name}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    # a different protocol (5 windows instead of 7): the champion must be re-evaluated
    other = cfg | {"promotion": cfg["promotion"] | {"windows_days": 5}}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    train = ("train", "--data", synth_data, "--cities", "syn-000,syn-001")

    proc = energy(*train, "--config", tmp_path / "tiny.yaml", "--out", tmp_path / "a")
    assert f"registered {model_name} v1: promoted to champion (first version" in ok(proc)
    assert "[energy] scoring on the protocol" in proc.stderr

    # the seasonal naive alone is worse than the ensemble on the same data
    proc = cli(
        *train, "--config", tmp_path / "other.yaml", "--model", "seasonal_naive",
        "--out", tmp_path / "b",
    )  # fmt: skip
    assert f"registered {model_name} v2: not promoted" in ok(proc)
    assert "refitting its config" in proc.stderr  # champion scored on the new protocol
    v1 = tracking.get_version(model_name, "1")
    assert any(k.startswith("reeval.") for k in v1.tags)

    proc = cli(*train, "--config", tmp_path / "tiny.yaml", "--out", tmp_path / "c",
                  "--no-register")  # fmt: skip
    assert "registered" not in ok(proc)
    assert [v.version for v in tracking.list_versions(model_name)] == ["2", "1"]

    listing = ok(cli("registry", "list", "--name", model_name)).splitlines()
    assert listing[0].split()[:2] == ["version", "aliases"]
    assert listing[1].split()[:2] == ["2", "challenger"] and "rejected" in listing[1]
    assert listing[2].split()[:2] == ["1", "champion"] and "promoted" in listing[2]

    shown = json.loads(ok(cli("registry", "show", "2", "--name", model_name)))
    assert shown["tags"]["gate.decision"] == "rejected"
    assert shown["tags"]["kind"] == "seasonal_naive" and shown["metrics"]["overall"]["mape"] > 0

    proc = cli("registry", "promote", "2", "--name", model_name)
    assert proc.exit_code == 1 and "not promoted" in proc.stdout
    proc = cli("registry", "promote", "2", "--name", model_name, "--force", "--reason", "demo")
    assert "promoted to champion: forced: demo" in ok(proc)
    assert tracking.alias_version(model_name) == "2"

    proc = cli("registry", "rollback", "--name", model_name, "--reason", "bad in prod")
    assert f"{model_name}: champion v2 → v1 (bad in prod)" in ok(proc)
    assert tracking.alias_version(model_name) == "1"
    proc = cli("registry", "show", "7", "--name", model_name)
    assert isinstance(proc.exception, KeyError)  # main() turns it into "error: ..." and exit 2
    assert str(proc.exception) == f"version: {model_name!r} has no version '7'"
