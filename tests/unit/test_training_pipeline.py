"""The training pipeline without a tracking store: one read of the data, metrics as values, the
backend it is given, and job entry points that sit on the library, not on the CLI."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from energy.config.experiment import ExperimentConfig
from energy.data.dataset import Dataset
from energy.lifecycle import experiment, pipeline
from energy.models.backend import TrainingBackend

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
TINY: dict[str, Any] = {
    "name": "tiny",
    "features": {"horizon": 24, "lags": [24, 48, 168]},
    "models": {"xgboost": {"n_estimators": 5, "n_jobs": 1}},
    "ensemble": {"method": "mean", "val_days": 7},
    "baselines": ["seasonal_naive"],
    "promotion": {"windows_days": 5},
}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Dataset]:
    from energy.data.ingest import synth_dataset

    out = tmp_path_factory.mktemp("synth") / "data"
    return out, synth_dataset(out, n_cities=2, days=45, seed=1)


class CountingBackend(TrainingBackend):
    """Counts the XGBoost fits routed to it and leaves them to the model (in-process)."""

    def __init__(self) -> None:
        self.boosters = 0

    def fit_boosters(self, job: Any) -> None:
        self.boosters += 1
        return None


def test_train_reads_once_scores_and_returns_values(synth, tmp_path, monkeypatch):
    data_dir, _ = synth
    reads = []
    real = experiment.read_dataset
    monkeypatch.setattr(
        experiment, "read_dataset", lambda *a, **k: reads.append(a) or real(*a, **k)
    )
    said: list[str] = []
    backend = CountingBackend()
    cfg = ExperimentConfig.model_validate(TINY)
    result = pipeline.train_and_register(
        cfg, data_dir, tmp_path, kind="xgboost", track=False, backend=backend,
        progress=said.append,
    )  # fmt: skip
    assert len(reads) == 1 and backend.boosters == 1
    assert result.kind == "xgboost" and result.cities == ["syn-000", "syn-001"]
    assert result.config is cfg and result.data == str(data_dir)
    assert result.protocol is not None and result.protocol.horizon == 24
    assert result.metrics["overall"]["mape"] > 0
    assert set(result.metrics["per_city"]) == {"syn-000", "syn-001"}
    assert (result.run_id, result.model_uri, result.version, result.decision) == (None,) * 4
    assert not result.promoted
    assert "tracking is off: not registering (use --no-register to say so)" in said
    # what the files say is what the result holds
    assert json.loads((tmp_path / "train.json").read_text()) == result.summary()
    meta = json.loads((tmp_path / "package.json").read_text())
    assert meta["metrics"] == result.metrics and meta["protocol"] == result.protocol.as_dict()
    assert (tmp_path / "backtest" / "metrics.json").is_file()
    assert result.describe().startswith(f"trained xgboost on 2 cities in {round(result.fit_s, 2)}")


def test_train_from_a_dataset_in_memory_without_evaluation(synth, tmp_path):
    _, ds = synth
    cfg = ExperimentConfig.model_validate(TINY)
    result = pipeline.train_and_register(
        cfg, ds, tmp_path, cities=["syn-001"], kind="seasonal_naive", evaluate=False,
        register=False, track=False,
    )  # fmt: skip
    assert result.cities == ["syn-001"] and result.metrics == {} and result.protocol is None
    assert result.data_hash == ds.manifest["content_hash"]
    assert (tmp_path / "model").is_dir()


def test_unknown_model_kind_fails_before_fitting(synth, tmp_path):
    data_dir, _ = synth
    cfg = ExperimentConfig.model_validate(TINY)
    with pytest.raises(ValueError, match="--model: 'lstm' is not in this config"):
        pipeline.train_and_register(cfg, data_dir, tmp_path, kind="lstm", track=False)


def test_jobs_sit_on_the_library_not_on_the_cli():
    for name in ("train", "backtest", "tune"):
        tree = ast.parse((REPO / "jobs" / f"{name}.py").read_text())
        imported = {
            n.module if isinstance(n, ast.ImportFrom) else a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.Import | ast.ImportFrom)
            for a in n.names
        }
        assert not any(str(m).startswith("energy.cli") for m in imported), (name, imported)
