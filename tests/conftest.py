"""Shared fixtures. Real data lives at ../shared/data relative to the repository root (CI too)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets. Missing data is an error, not a skip: CI has it at the same path."""
    assert SHARED_DATA.is_dir(), f"real data not found at {SHARED_DATA}"
    return SHARED_DATA
