"""XGBoost forecaster: shapes, leakage per strategy, persistence, determinism, config checks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from energy import schema
from energy.data.cleaning import clean
from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.models.base import Forecaster
from energy.models.kinds import create
from energy.models.xgb import XGBoostConfig, XGBoostForecaster

pytestmark = pytest.mark.unit

H = 24
HOUR = pd.Timedelta(hours=1)
START = pd.Timestamp("2020-01-01", tz="UTC")
TRAIN_END = START + pd.Timedelta(days=35)  # val: the next 7 days
ORIGIN = START + pd.Timedelta(days=45)  # data run to day 50
TINY = {"n_estimators": 5, "max_depth": 3, "n_jobs": 1, "subsample": 0.8}


def _rows(ds: Dataset, lo: pd.Timestamp, hi: pd.Timestamp) -> Dataset:
    t = ds.load[schema.TIME]
    return Dataset(ds.load[(t >= lo) & (t < hi)].reset_index(drop=True), ds.cities, ds.events)


@pytest.fixture(scope="module")
def data() -> Dataset:
    """Three synthetic cities, 50 days, cleaned (UTC hours, MW, °C)."""
    load, cities, events = generate(3, 50, seed=4)
    cleaned, _ = clean(load, cities)
    return Dataset(cleaned, cities, events)


@pytest.fixture(scope="module", params=["shared", "per_step"])
def model(request: pytest.FixtureRequest, data: Dataset) -> XGBoostForecaster:
    train = _rows(data, START, TRAIN_END)
    val = _rows(data, TRAIN_END, TRAIN_END + pd.Timedelta(days=7))
    return XGBoostForecaster({**TINY, "strategy": request.param}).fit(train, val)


def _origins(data: Dataset, *origins: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        [(c, o) for o in origins for c in data.city_ids], columns=[schema.CITY, "origin"]
    )


def test_predict_shapes_and_timestamps(model: XGBoostForecaster, data: Dataset) -> None:
    hist = _rows(data, START, ORIGIN)
    pred = model.predict(hist, horizon=H)
    assert len(pred) == 3 * H and pred["yhat"].notna().all()
    assert (pred["origin"] == ORIGIN).all()
    assert (pred["timestamp"] == ORIGIN + (pred["step"] - 1) * HOUR).all()
    assert set(pred["weather_source"]) == {"climatology"}
    # forecasts are in MW: the right order of magnitude for each city
    mean = data.load.groupby(schema.CITY)[schema.LOAD].mean()
    ratio = pred.groupby(schema.CITY)["yhat"].mean() / mean
    assert ratio.between(0.5, 2.0).all()


def test_predict_origins_many_at_once(model: XGBoostForecaster, data: Dataset) -> None:
    hours = [ORIGIN + k * 5 * HOUR for k in range(10)]  # overlapping horizons
    origins = _origins(data, *hours)
    pred = model.predict_origins(data.load, data.cities, origins, horizon=H)
    assert len(pred) == len(origins) * H and pred["yhat"].notna().all()
    one = model.predict_origins(data.load, data.cities, origins.iloc[[7]], horizon=H)
    np.testing.assert_allclose(pred["yhat"].to_numpy()[7 * H : 8 * H], one["yhat"], rtol=1e-6)


def test_no_leakage_from_load_at_or_after_the_origin(
    model: XGBoostForecaster, data: Dataset
) -> None:
    origins = _origins(data, ORIGIN)
    base = model.predict_origins(data.load, data.cities, origins, horizon=H)
    after = data.load.copy()
    after.loc[after[schema.TIME] >= ORIGIN, schema.LOAD] *= 100
    spiked = model.predict_origins(after, data.cities, origins, horizon=H)
    pd.testing.assert_frame_equal(base, spiked)
    # ...while load the day before the origin does reach the forecast: the check is not vacuous
    before = data.load.copy()
    before.loc[before[schema.TIME].between(ORIGIN - H * HOUR, ORIGIN - HOUR), schema.LOAD] *= 100
    moved = model.predict_origins(before, data.cities, origins, horizon=H)
    assert not np.allclose(moved["yhat"], base["yhat"])


def test_save_load_round_trip(model: XGBoostForecaster, data: Dataset, tmp_path: Path) -> None:
    hist = _rows(data, START, ORIGIN)
    path = model.save(tmp_path / "xgb")
    names = {p.name for p in path.iterdir()}
    assert {"model.json", "climatology.json", "xgb.json", "xgb_h024.ubj", "features_h024"} <= names
    loaded = Forecaster.load(path)
    pd.testing.assert_frame_equal(loaded.predict(hist, horizon=H), model.predict(hist, horizon=H))


def test_horizon_longer_than_fitted_is_refused(model: XGBoostForecaster, data: Dataset) -> None:
    with pytest.raises(ValueError, match="horizon 48"):
        model.predict(_rows(data, START, ORIGIN), horizon=48)


def test_per_step_groups_bound_lags_by_their_last_step() -> None:
    cfg = XGBoostConfig(strategy="per_step")
    assert cfg.group_ends() == [6, 12, 24]
    assert min(cfg.features_for(6).lags or ()) == 6 and cfg.features_for(6).horizon == 6
    assert cfg.features_for(24) == cfg.features
    assert XGBoostConfig(strategy="shared").group_ends() == [24]
    short = XGBoostConfig(features={"horizon": 8})  # groups past the horizon are dropped
    assert short.group_ends() == [6, 8]
    with pytest.raises(ValidationError):
        XGBoostConfig(step_groups=(6, 3))
    with pytest.raises(ValidationError):
        XGBoostConfig(max_depht=3)  # type: ignore[call-arg]


def test_deterministic_with_seed(data: Dataset) -> None:
    train = _rows(data, START, TRAIN_END)
    hist = _rows(data, START, ORIGIN)
    a = XGBoostForecaster(TINY).fit(train).predict(hist, horizon=H)
    b = XGBoostForecaster(TINY).fit(train).predict(hist, horizon=H)
    pd.testing.assert_frame_equal(a, b)
    c = XGBoostForecaster({**TINY, "seed": 1}).fit(train).predict(hist, horizon=H)
    assert not np.array_equal(a["yhat"], c["yhat"])


def test_one_city_and_unseen_val_cities(data: Dataset, caplog: pytest.LogCaptureFixture) -> None:
    one = data.select(data.city_ids[:1])
    train = _rows(one, START, TRAIN_END)
    val = _rows(data.select(data.city_ids[1:]), TRAIN_END, ORIGIN)  # other cities only
    with caplog.at_level(logging.WARNING, logger="energy.models.xgb"):
        model = create("xgboost", TINY).fit(train, val)
    assert "unseen" in caplog.text
    pred = model.predict(_rows(one, START, ORIGIN), horizon=H)
    assert len(pred) == H and pred["yhat"].notna().all()


def test_search_space_names_config_fields() -> None:
    space = XGBoostForecaster.search_space()
    assert set(space) <= set(XGBoostConfig.model_fields)
    for name, p in space.items():
        mid = (p.low + p.high) / 2 if p.low is not None and p.high is not None else None
        XGBoostConfig.model_validate({name: int(mid) if p.kind == "int" else mid})
