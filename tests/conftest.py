"""Shared fixtures. Real data lives at ../shared/data relative to the repository root (CI too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets. Missing data is an error, not a skip: CI has it at the same path."""
    assert SHARED_DATA.is_dir(), f"real data not found at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One temporary SQLite tracking store and ENERGY_HOME for the whole session, absolute, so that
    no test (nor a CLI subprocess or Ray worker it starts: they inherit the environment) writes
    into the repo or the real home folder.
    A fresh store costs ~5 s of schema migrations once; tests use unique registered-model names."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        # durable state (monitoring store, schedules, job folders) never lands in the real ~/.energy
        mp.setenv("ENERGY_HOME", str(tmp_path_factory.mktemp("energy_home")))
        mp.delenv("ENERGY_TRACKING", raising=False)
        yield uri
