"""The computed forecast path gives the same forecasts as the plain one (within 1e-6 relative).

The fast path shares feature families between the members' pipelines within a request
(:mod:`energy.features.shared`), reads XGBoost features from the whole request frame and runs the
Transformer without a padding mask when nothing is padded. The reference here is each member
forecasting alone, from the full stored history, outside any shared block.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from energy import schema
from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.features.shared import active, memo, shared_features
from energy.forecast import read_package, write_package
from energy.models import kinds as registry
from energy.models.transformer_net import TransformerNet, TransformerNetConfig

pytestmark = pytest.mark.unit
HOUR = pd.Timedelta(hours=1)
_NEURAL = {"epochs": 1, "batch_size": 64, "lookback": 48, "max_train_windows_per_epoch": 256}
ENSEMBLE = {
    "members": {
        "xgboost": {"kind": "xgboost", "config": {"n_estimators": 5, "max_depth": 3, "n_jobs": 1}},
        "lstm": {"kind": "lstm", "config": {**_NEURAL, "hidden_sizes": [8]}},
        "transformer": {
            "kind": "transformer",
            "config": {**_NEURAL, "d_model": 8, "n_heads": 2, "n_layers": 1, "dim_feedforward": 16},
        },
    },
    "method": "inverse_error",
    "val_days": 7,
}


@pytest.fixture(scope="module")
def data() -> Dataset:
    load, cities, events = generate(4, 45, seed=11)
    return Dataset(load=load, cities=cities, events=events, manifest={"content_hash": "fast"})


@pytest.fixture(scope="module")
def package_dir(data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = registry.create("ensemble", ENSEMBLE).fit(data)
    return write_package(model, data, tmp_path_factory.mktemp("fast"), meta={})


@pytest.mark.parametrize("horizon", [24, 7])
def test_request_path_matches_each_member_alone(
    data: Dataset, package_dir: Path, horizon: int
) -> None:
    pkg = read_package(package_dir)
    cities = ["syn-003", "syn-000", "syn-002"]
    start = data.load[schema.TIME].max() - 71 * HOUR  # a past day, loads after it ignored
    got = pkg.forecast(cities, start=start, horizon=horizon, members=True)
    model = pkg.model
    origins = pd.DataFrame({schema.CITY: cities, "origin": start})
    frame, _ = model._forecast_frame(data.load, data.cities, origins, horizon, None)
    assert not active()
    for name, member in model.members_.items():
        want = member.predict_origins(frame, data.cities, origins, horizon)["yhat"].to_numpy()
        np.testing.assert_allclose(got[f"yhat_{name}"].to_numpy(), want, rtol=1e-6, atol=1e-9)
    preds = {n: got[f"yhat_{n}"].to_numpy().reshape(len(cities), horizon) for n in model.members_}
    np.testing.assert_allclose(
        got["yhat"].to_numpy(), model.combine(preds).reshape(-1), rtol=1e-6, atol=1e-9
    )


def test_transformer_without_mask_equals_all_true_mask() -> None:
    torch.manual_seed(0)
    net = TransformerNet(TransformerNetConfig(n_past=5, horizon=6, d_model=8, n_layers=2)).eval()
    past, future = torch.randn(3, 10, 5), torch.randn(3, 6, 4)
    city = torch.zeros(3, dtype=torch.int64)
    with torch.inference_mode():
        masked = net(past, future, city, torch.ones(3, 6, dtype=torch.bool))
        fast = net(past, future, city, None)
    torch.testing.assert_close(fast, masked, rtol=1e-6, atol=1e-6)


def test_memo_shares_only_inside_a_block_and_per_object() -> None:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    a, b = object(), object()
    assert memo(a, "k", compute) == 1 and memo(a, "k", compute) == 2  # no block: no sharing
    with shared_features():
        assert active()
        assert memo(a, "k", compute) == 3
        assert memo(a, "k", compute) == 3  # shared
        assert memo(b, "k", compute) == 4  # another object
        assert memo(a, "other", compute) == 5  # another key
        assert memo(a, "k", compute, share=False) == 6
    assert not active()
