"""Issue 18, item 9: a NaN loss stops training with a clear error (neural loop and XGBoost), the
promotion gate refuses non-finite metrics, and a non-finite forecast is a 503, never a null."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.forecast import ModelUnavailableError, read_package, write_package
from energy.lifecycle.promotion import is_performance_improved
from energy.models import kinds as registry
from energy.models._torch_loop import LoopConfig, fit_loop
from energy.models.errors import NonFiniteLossError
from energy.models.xgb import BoostParams, BoostRows, train_booster
from serve_app.schemas import ForecastRequest, ModelInfo
from serve_app.service import ForecastService, http_status

pytestmark = pytest.mark.unit


class _Windows(torch.utils.data.Dataset):
    """``(past, future, target, city)`` windows; ``target`` may hold a NaN."""

    def __init__(self, n: int, bad: bool = False) -> None:
        self.n, self.bad = n, bad

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        target = torch.full((2,), math.nan if self.bad and i == 0 else 1.0)
        return torch.ones(4, 1), torch.ones(2, 1), target, torch.tensor(0)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, past: torch.Tensor, future: torch.Tensor, city: torch.Tensor) -> Any:
        return self.lin(past[..., 0])


def test_a_nan_training_loss_stops_the_loop_before_any_report() -> None:
    reports: list[int] = []
    net = _Net()
    with pytest.raises(NonFiniteLossError, match=r"_Net: train_loss is nan at epoch 1") as e:
        fit_loop(net, _Windows(8, bad=True), None, LoopConfig(epochs=3, batch_size=4),
                 on_epoch_end=lambda epoch, m, state: reports.append(epoch))  # fmt: skip
    assert reports == [] and isinstance(e.value, ValueError)  # the CLI prints it as one line


def test_a_nan_validation_loss_stops_the_loop() -> None:
    with pytest.raises(NonFiniteLossError, match="val_loss is nan"):
        fit_loop(_Net(), _Windows(8), _Windows(4, bad=True), LoopConfig(epochs=2, batch_size=4))


def test_finite_losses_train_as_before() -> None:
    state = fit_loop(_Net(), _Windows(8), _Windows(4), LoopConfig(epochs=2, batch_size=4))
    assert state["epoch"] == 2 and all(math.isfinite(h["val_loss"]) for h in state["history"])


def test_xgboost_with_a_non_finite_validation_metric_stops(monkeypatch) -> None:
    """XGBoost refuses non-finite labels itself (and ``_drop_nan`` drops them first); a metric that
    still overflows (e.g. a custom objective diverging) must not yield a "best" round."""
    import energy.models.xgb as xgb_module

    class Diverged:
        best_score, best_iteration = math.nan, 2

    monkeypatch.setattr(xgb_module.xgb, "train", lambda *a, **k: Diverged())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    rows = BoostRows(x, x[:, 0].copy(), x[:16], x[:16, 0].copy(), ["a", "b", "c"])
    bp = BoostParams({"max_depth": 2}, num_boost_round=5, early_stopping_rounds=2, nthread=1,
                     quantile=False)  # fmt: skip
    with pytest.raises(NonFiniteLossError, match="xgboost: val loss is nan at epoch 3"):
        train_booster(bp, rows)


# ---- the gate -----------------------------------------------------------------------------------
GOOD = {"overall": {"mape": 5.0}, "per_city": {"a": {"mape": 5.0}, "b": {"mape": 5.0}}}


@pytest.mark.parametrize(
    "challenger",
    [
        {"overall": {"mape": math.nan}, "per_city": {}},
        {"overall": {"mape": math.inf}, "per_city": {}},
        {"overall": {"mape": 4.0, "rmse": math.nan}, "per_city": {"a": {"mape": 4.0}}},
        {"overall": {"mape": 4.0}, "per_city": {"a": {"mape": 4.0}, "b": {"mape": math.nan}}},
    ],
)
@pytest.mark.parametrize("champion", [None, GOOD])
def test_the_gate_refuses_non_finite_metrics(challenger: dict, champion: dict | None) -> None:
    decision = is_performance_improved(challenger, champion)
    assert not decision.promote and "finite" in decision.reason


def test_the_gate_still_promotes_a_finite_better_challenger() -> None:
    better = {"overall": {"mape": 4.0}, "per_city": {"a": {"mape": 4.0}, "b": {"mape": 4.9}}}
    assert is_performance_improved(better, GOOD).promote


# ---- the API never returns a null forecast -------------------------------------------------------
@pytest.fixture(scope="module")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    load, cities, events = generate(2, 30, seed=9)
    data = Dataset(load=load, cities=cities, events=events, manifest={"content_hash": "h9"})
    model = registry.create("seasonal_naive", {}).fit(data)
    return write_package(model, data, tmp_path_factory.mktemp("nan") / "pkg")


def test_a_non_finite_forecast_is_a_503_for_that_city_only(package_dir: Path, monkeypatch) -> None:
    pkg = read_package(package_dir)
    broken, healthy = pkg.cities[0], pkg.cities[1]
    real = pkg.model.predict_origins

    def nan_for_one_city(*args: Any, **kwargs: Any) -> pd.DataFrame:
        out = real(*args, **kwargs)
        out.loc[out["city_id"] == broken, "yhat"] = np.nan  # as NaN weights would answer
        return out

    monkeypatch.setattr(pkg.model, "predict_origins", nan_for_one_city)
    info = ModelInfo(name="pkg", version="1", source="package", kind=pkg.model.kind, loaded_at="-")
    svc = ForecastService(pkg, info, cache_size=0)
    bad, good = svc.forecast_many(
        [ForecastRequest(city_id=broken, horizon_hours=24),
         ForecastRequest(city_id=healthy, horizon_hours=24)]
    )  # fmt: skip
    assert isinstance(bad, ModelUnavailableError) and http_status(bad) == 503
    assert "non-finite forecasts" in str(bad) and broken in str(bad)
    assert all(math.isfinite(p.forecast_mw) for p in good.response().points)  # type: ignore[union-attr]
