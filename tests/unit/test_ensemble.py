"""energy.models.ensemble and energy.models.per_city with toy members: weights, fallbacks,
routing, disk.

The toy forecaster (registered for these tests only) forecasts ``factor ·`` the load ``lag`` hours
earlier, so member forecasts are exact functions of the data and each test runs in milliseconds.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from energy import schema
from energy.data.dataset import Dataset
from energy.data.splits import day_ahead_origins
from energy.data.synthetic import generate
from energy.models import kinds as registry
from energy.models.base import Capabilities, Forecaster, ModelConfig
from energy.models.ensemble import (
    EnsembleForecaster,
    actuals,
    inverse_error_weights,
    stacking_weights,
)
from energy.models.per_city import PerCityForecaster

pytestmark = pytest.mark.unit
HOUR = pd.Timedelta(hours=1)


class ToyConfig(ModelConfig):
    factor: float = 1.0
    lag: int = 24
    weather: bool = False


class Toy(Forecaster):
    """``yhat(o + s − 1) = factor · load(o + s − 1 − lag·ceil(s / lag))``, NaN → the city mean."""

    kind = "toy"
    Config = ToyConfig
    config: ToyConfig

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(self.config.weather, True, self.config.lag)

    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        self.mean_ = train.load.groupby(schema.CITY)[schema.LOAD].mean().to_dict()

    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        lag = self.config.lag
        back = -(-np.arange(1, horizon + 1) // lag) * lag - np.arange(horizon)  # hours before
        out = np.empty((len(origins), horizon))
        for i, (city, o) in enumerate(origins.itertuples(index=False)):
            h = frame[(frame[schema.CITY] == city) & (frame[schema.TIME] < o)]
            src = h.set_index(schema.TIME)[schema.LOAD].reindex(o - back * HOUR).to_numpy()
            out[i] = self.config.factor * np.where(np.isnan(src), self.mean_[city], src)
        return out

    def _save_state(self, path: Path) -> None:
        (path / "toy.json").write_text(json.dumps(self.mean_))

    def _load_state(self, path: Path) -> None:
        self.mean_ = json.loads((path / "toy.json").read_text())


@pytest.fixture(autouse=True)
def toy_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._KINDS, "toy", f"{__name__}:Toy")


@pytest.fixture(scope="module")
def data() -> Dataset:
    load, cities, events = generate(2, 40, seed=0)
    return Dataset(load, cities, events)


def _utc(t: str) -> pd.Timestamp:
    return pd.Timestamp(t, tz="UTC")


def _cut(ds: Dataset, start: str | None, end: str | None) -> Dataset:
    t = ds.load[schema.TIME]
    keep = (t >= _utc(start or "1900-01-01")) & (t < _utc(end or "2100-01-01"))
    return Dataset(ds.load[keep].reset_index(drop=True), ds.cities, ds.events)


def _members(**factors: float) -> dict[str, dict]:
    return {n: {"kind": "toy", "config": {"factor": f}} for n, f in factors.items()}


def _ensemble(method: str, **extra: object) -> EnsembleForecaster:
    cfg = {"members": _members(good=1.0, low=0.6), "method": method, **extra}
    return EnsembleForecaster(cfg)


# ---- weight formulas ------------------------------------------------------------------------
def test_stacking_weights_recover_known_weights_per_step_and_skip_nan() -> None:
    rng = np.random.default_rng(0)
    preds = rng.uniform(1, 2, (2, 200, 3))
    y = 0.3 * preds[0] + 0.7 * preds[1]
    y[5, 1] = np.nan
    w = stacking_weights(preds, y, per_step=True)
    assert w.shape == (3, 2)
    np.testing.assert_allclose(w, [[0.3, 0.7]] * 3, atol=1e-9)
    assert stacking_weights(preds, y, per_step=False).shape == (1, 2)


def test_stacking_weights_nonneg_vs_unconstrained() -> None:
    rng = np.random.default_rng(1)
    preds = rng.uniform(1, 2, (2, 100, 1))
    y = -0.5 * preds[0] + 1.5 * preds[1]
    assert (stacking_weights(preds, y, nonneg=True) >= 0).all()
    np.testing.assert_allclose(stacking_weights(preds, y, nonneg=False), [[-0.5, 1.5]], atol=1e-9)


def test_inverse_error_weights() -> None:
    y = np.zeros((4, 2))
    preds = np.stack([np.ones((4, 2)), np.full((4, 2), 3.0)])
    np.testing.assert_allclose(inverse_error_weights(preds, y), [[0.75, 0.25]] * 2)
    np.testing.assert_allclose(inverse_error_weights(preds, y, metric="mse"), [[0.9, 0.1]] * 2)
    preds[0, :, 1] = 0.0  # a perfect member at step 2 takes all the weight there
    np.testing.assert_allclose(inverse_error_weights(preds, y)[1], [1.0, 0.0])


# ---- actuals --------------------------------------------------------------------
def test_actuals_reads_origin_plus_step(data: Dataset) -> None:
    o = pd.DataFrame({schema.CITY: ["syn-001"], "origin": [_utc("2020-01-10 08:00")]})
    y = actuals(data.load, o, 3)
    want = data.load.set_index([schema.CITY, schema.TIME]).loc["syn-001", schema.LOAD]
    np.testing.assert_array_equal(y[0], want.loc[o["origin"][0] :].iloc[:3].to_numpy())


# ---- the ensemble -----------------------------------------------------------------------------
def test_mean_is_the_average_of_members_and_exposes_member_predictions(data: Dataset) -> None:
    ens = _ensemble("mean").fit(data)
    assert ens.method_used_ == "mean" and ens.step_weights(24).shape == (24, 2)
    o = day_ahead_origins(data.load, data.cities, _utc("2020-02-01"), _utc("2020-02-05"))
    parts = ens.member_predictions(data.load, data.cities, o, 24)
    assert set(parts) == {"good", "low"} and parts["good"].shape == (len(o), 24)
    np.testing.assert_allclose(parts["low"], 0.6 * parts["good"])
    got = ens.predict_origins(data.load, data.cities, o, 24)["yhat"].to_numpy().reshape(-1, 24)
    np.testing.assert_allclose(got, 0.8 * parts["good"])


def test_inverse_error_prefers_the_better_member_with_and_without_val(data: Dataset) -> None:
    train, val = _cut(data, None, "2020-01-29"), _cut(data, "2020-01-29", None)
    with_val = _ensemble("inverse_error").fit(train, val)
    no_val = _ensemble("inverse_error", val_days=7, per_step=False).fit(train)
    for ens in (with_val, no_val):
        assert ens.method_used_ == "inverse_error" and not ens.fallback_
        assert (ens.weights_[:, 0] > ens.weights_[:, 1]).all()
        np.testing.assert_allclose(ens.weights_.sum(axis=1), 1.0)
        assert ens.member_errors_["good"] < ens.member_errors_["low"]
    assert with_val.weights_.shape == (24, 2) and no_val.weights_.shape == (1, 2)


def test_stacking_fits_out_of_fold_weights(data: Dataset) -> None:
    ens = _ensemble("stacking", stacking_folds=2, stacking_fold_days=5).fit(data)
    assert ens.method_used_ == "stacking" and not ens.fallback_
    assert ens.weights_.shape == (24, 2) and (ens.weights_ >= 0).all()
    np.testing.assert_allclose(ens.weights_.sum(axis=1), 1.0)
    assert ens.weights_[:, 0].mean() > 0.5


def test_stacking_falls_back_to_inverse_error_when_too_short(
    data: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="energy.models.ensemble"):
        ens = _ensemble("stacking", stacking_folds=3, stacking_fold_days=14, val_days=5).fit(data)
    assert ens.method_used_ == "inverse_error"
    assert ens.fallback_.startswith("stacking:")
    assert "stacking impossible" in caplog.text


def test_inverse_error_falls_back_to_mean_without_room(data: Dataset) -> None:
    ens = _ensemble("inverse_error", val_days=60).fit(_cut(data, None, "2020-01-20"))
    assert ens.method_used_ == "mean" and ens.fallback_.startswith("inverse_error:")


def test_save_load_round_trip(data: Dataset, tmp_path: Path) -> None:
    ens = _ensemble("stacking", stacking_folds=1, stacking_fold_days=7).fit(data)
    ens.save(tmp_path / "ens")
    assert (tmp_path / "ens" / "members" / "good" / "model.json").is_file()
    back = Forecaster.load(tmp_path / "ens")
    assert isinstance(back, EnsembleForecaster)
    assert back.method_used_ == ens.method_used_ and back.fallback_ == ens.fallback_
    a, b = ens.predict(data, origin="2020-02-05"), back.predict(data, origin="2020-02-05")
    pd.testing.assert_frame_equal(a, b)


def test_capabilities_aggregate_members() -> None:
    ens = EnsembleForecaster(
        {
            "members": {
                "a": {"kind": "toy", "config": {"lag": 24}},
                "b": {"kind": "toy", "config": {"lag": 168, "weather": True}},
            }
        }
    )
    caps = ens.capabilities
    assert caps.uses_future_weather and caps.global_model and caps.min_history_hours == 168
    assert not caps.supports_unseen_cities


@pytest.mark.parametrize(
    "cfg",
    [
        {"members": {}},
        {"members": {"a": {"kind": "nope"}}},
        {"members": {"a": {"kind": "toy", "config": {"nope": 1}}}},
        {"members": {"bad name": {"kind": "toy"}}},
        {"members": {"a": {"kind": "toy"}}, "method": "median"},
    ],
)
def test_bad_config_is_a_validation_error(cfg: dict) -> None:
    with pytest.raises(ValidationError):
        EnsembleForecaster(cfg)


# ---- per city -------------------------------------------------------------------------------
def test_per_city_fits_one_model_per_city_and_routes(data: Dataset, tmp_path: Path) -> None:
    model = PerCityForecaster({"model": {"kind": "toy", "config": {"factor": 2.0}}}).fit(data)
    assert sorted(model.models_) == data.city_ids
    assert all(m.train_cities_ == [c] for c, m in model.models_.items())
    assert not model.capabilities.global_model
    got = model.predict(data, origin="2020-02-01")
    want = Toy({"factor": 2.0}).fit(data).predict(data, origin="2020-02-01")
    pd.testing.assert_frame_equal(got, want)
    back = Forecaster.load(model.save(tmp_path / "pc"))
    pd.testing.assert_frame_equal(back.predict(data, origin="2020-02-01"), got)
    assert (tmp_path / "pc" / "cities" / "syn-000" / "model.json").is_file()


def test_per_city_refuses_unseen_cities(data: Dataset) -> None:
    model = PerCityForecaster({"model": {"kind": "toy"}}).fit(data.select(["syn-000"]))
    with pytest.raises(ValueError, match="syn-001"):
        model.predict(data, origin="2020-02-01")
