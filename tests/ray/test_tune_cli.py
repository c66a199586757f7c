"""`energy tune` bad input: one `error:` line and exit status 2, before any Ray instance starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray


def energy(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "energy", *map(str, args)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def assert_user_error(proc: subprocess.CompletedProcess[str], text: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Started a local Ray" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and text in lines[0], proc.stderr


@pytest.mark.parametrize(
    ("extra", "space", "message"),
    [
        (["--search", "hyperband"], "", "error: search: unknown algorithm 'hyperband' (expected"),
        ([], "space: {max_dept: [1, 2]}", "error: space.max_dept: xgboost has no config field"),
    ],
)
def test_bad_input_is_one_line(tmp_path, extra: list[str], space: str, message: str) -> None:
    """(the other bad inputs go through the same path: tests/unit/test_search_space.py)"""
    tc = tmp_path / "tune.yaml"
    tc.write_text(space or "{}")
    args = ["tune", "--config", "cpu", "--data", tmp_path, "--model", "xgboost", "--out",
            tmp_path / "out", "--tune-config", tc, *extra]  # fmt: skip
    assert_user_error(energy(*args), message)
