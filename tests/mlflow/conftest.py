"""The MLflow tier: a real tracking store (the session's temporary SQLite store from
tests/conftest.py, or a real `mlflow server`), tiny models on a small synthetic data set.

One package is trained once per session (a 5-tree XGBoost + seasonal naive ensemble, two cities,
60 days); tests register it under their own unique model names.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from mlflow_helpers import tiny_config


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic cities, 60 days (UTC), written as a data set directory."""
    from energy.data.ingest import synth_dataset

    out = tmp_path_factory.mktemp("synth") / "data"
    synth_dataset(out, n_cities=2, days=60, seed=0)
    return out


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, synth_data: Path) -> dict[str, Any]:
    """The training pipeline on the tiny ensemble, not registered: fitted before the last 7
    days, scored on them, tracked (run id, logged pyfunc model URI) and saved as a package."""
    from energy.lifecycle.pipeline import train_and_register

    out = tmp_path_factory.mktemp("train") / "run"
    result = train_and_register(tiny_config(), synth_data, out, register=False)
    return result.summary() | {"model_uri": result.model_uri, "out": out, "result": result}


@pytest.fixture
def model_name() -> str:
    """A registered-model name no other test uses (the store is shared by the session)."""
    return f"test-{uuid.uuid4().hex[:10]}"
