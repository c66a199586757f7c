"""Every registered model kind through the same checks (STYLE.md, "One model contract").

Parametrised over ``energy.models.registry.kinds()``: a kind without a tiny config below, or whose
module does not import, fails here; nothing is skipped. Each kind is fitted once (module-scoped
fixture) on three synthetic cities and must then:

* forecast ``cities × horizon`` rows with the canonical columns, timestamps ``origin + step − 1 h``
  and no NaN (horizon 24, the tiny configs' feature horizon, and a shorter one);
* say where its weather came from (climatology without ``future_exog``, "supplied" with it, "none"
  for a model that uses no weather);
* not look at load at or after an origin (a 100× spike planted there changes nothing);
* give identical forecasts after save → load;
* refuse a horizon outside 1..168 and unknown config keys, and forecast an unseen city only when
  it says it can;
* publish a search space whose names are real config fields and whose values the config accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from energy import schema
from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.models.base import PREDICTION_COLUMNS, Capabilities, Forecaster, Param
from energy.models.kinds import create, kinds, model_class

pytestmark = pytest.mark.contract

HORIZON = 24
HOUR = pd.Timedelta(hours=1)
# Tiny sizes: every kind fits in seconds on 2 cores. One entry per registered kind.
_XGB = {"n_estimators": 5, "max_depth": 3}  # default strategy: per-step groups, leak-prone
_XGB_ONE = {**_XGB, "strategy": "shared"}  # one booster: cheap inside the wrappers
_NEURAL = {"epochs": 1, "batch_size": 64, "lookback": 48, "max_train_windows_per_epoch": 256}
TINY: dict[str, dict[str, Any]] = {
    "seasonal_naive": {},
    "vanilla_mlr": {},
    "xgboost": _XGB,
    "lstm": {**_NEURAL, "hidden_sizes": [8]},
    "transformer": {**_NEURAL, "d_model": 8, "n_heads": 2, "n_layers": 1, "dim_feedforward": 16},
    "per_city": {"model": {"kind": "xgboost", "config": _XGB_ONE}},
    "ensemble": {
        "members": {
            "naive": {"kind": "seasonal_naive"},
            "xgb": {"kind": "xgboost", "config": _XGB_ONE},
        },
        "method": "stacking",
        "stacking_folds": 1,
        "stacking_fold_days": 7,
    },
}
START = pd.Timestamp("2020-01-01", tz="UTC")
TRAIN_END = START + pd.Timedelta(days=42)  # val: the next 7 days
ORIGIN = START + pd.Timedelta(days=52)  # a UTC midnight; the data run to day 60


@pytest.fixture(scope="module")
def data() -> Dataset:
    """Four synthetic cities, 60 days (UTC hours, MW, °C); the fourth is never trained on."""
    load, cities, events = generate(4, 60, seed=0)
    return Dataset(load, cities, events)


@pytest.fixture(scope="module")
def seen(data: Dataset) -> Dataset:
    return data.select(data.city_ids[:3])


def _window(ds: Dataset, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> Dataset:
    t = ds.load[schema.TIME]
    keep = (t >= (lo if lo is not None else t.min())) & (t < (hi if hi is not None else t.max()))
    return Dataset(ds.load[keep].reset_index(drop=True), ds.cities, ds.events, ds.manifest)


@pytest.fixture(scope="module", params=kinds())
def fitted(request: pytest.FixtureRequest, seen: Dataset) -> Forecaster:
    """Each registered kind, fitted once on days 0–41 with days 42–48 as validation."""
    kind = request.param
    assert kind in TINY, f"no tiny contract config for model kind {kind!r}"
    train = _window(seen, None, TRAIN_END)
    val = _window(seen, TRAIN_END, TRAIN_END + pd.Timedelta(days=7))
    model = create(kind, TINY[kind])
    assert model.fit(train, val) is model
    return model


def _origins(ds: Dataset, *origins: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        [(c, o) for o in origins for c in ds.city_ids], columns=[schema.CITY, "origin"]
    )


def _yhat(model: Forecaster, ds: Dataset, origins: pd.DataFrame) -> np.ndarray:
    out = model.predict_origins(ds.load, ds.cities, origins, HORIZON)
    return out["yhat"].to_numpy()


def test_every_registered_kind_has_a_tiny_config() -> None:
    assert sorted(TINY) == kinds()


def test_kind_config_and_capabilities(fitted: Forecaster) -> None:
    assert model_class(fitted.kind) is type(fitted)
    assert isinstance(fitted.capabilities, Capabilities)
    assert 0 <= fitted.capabilities.min_history_hours < 24 * 42


def test_unfitted_model_refuses_to_predict(fitted: Forecaster, seen: Dataset) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        create(fitted.kind, TINY[fitted.kind]).predict(seen, HORIZON, origin=ORIGIN)


def test_predict_shape_timestamps_and_climatology(fitted: Forecaster, seen: Dataset) -> None:
    history = _window(seen, None, ORIGIN)
    out = fitted.predict(history, HORIZON)  # origin: the hour after the last load value
    assert list(out.columns) == list(PREDICTION_COLUMNS)
    assert len(out) == len(seen.city_ids) * HORIZON
    assert sorted(out[schema.CITY].unique()) == seen.city_ids
    assert (out["origin"] == ORIGIN).all()
    assert (out["timestamp"] == out["origin"] + (out["step"] - 1) * HOUR).all()
    assert sorted(out["step"].unique()) == list(range(1, HORIZON + 1))
    assert np.isfinite(out["yhat"]).all()
    want = "climatology" if fitted.capabilities.uses_future_weather else "none"
    assert (out["weather_source"] == want).all()


def test_shorter_horizon(fitted: Forecaster, seen: Dataset) -> None:
    out = fitted.predict_origins(seen.load, seen.cities, _origins(seen, ORIGIN), 6)
    assert len(out) == len(seen.city_ids) * 6 and np.isfinite(out["yhat"]).all()


def test_future_exog_is_used_and_reported(fitted: Forecaster, seen: Dataset) -> None:
    ahead = seen.load[(seen.load[schema.TIME] >= ORIGIN)]
    ahead = ahead[ahead[schema.TIME] < ORIGIN + HORIZON * HOUR]
    exog = ahead[[schema.CITY, schema.TIME, *schema.WEATHER_COLUMNS[:3]]]
    out = fitted.predict(seen, HORIZON, future_exog=exog, origin=ORIGIN)
    want = "supplied" if fitted.capabilities.uses_future_weather else "none"
    assert (out["weather_source"] == want).all()
    assert np.isfinite(out["yhat"]).all()


def test_no_future_leakage(fitted: Forecaster, seen: Dataset) -> None:
    """Load at and after an origin must not move that origin's forecast (nor an earlier one)."""
    later = ORIGIN + 29 * HOUR  # not a midnight: no model may assume origins at 00:00
    origins = _origins(seen, ORIGIN, later)
    before = _yhat(fitted, seen, origins)
    spiked = seen.load.copy()
    spiked.loc[spiked[schema.TIME] >= later, schema.LOAD] *= 100.0
    after = _yhat(fitted, Dataset(spiked, seen.cities, seen.events), origins)
    np.testing.assert_allclose(after, before, rtol=1e-9)


def test_save_load_round_trip(fitted: Forecaster, seen: Dataset, tmp_path: Path) -> None:
    origins = _origins(seen, ORIGIN, ORIGIN + 5 * HOUR)
    fitted.save(tmp_path / "model")
    back = Forecaster.load(tmp_path / "model")
    assert type(back) is type(fitted)
    assert back.config == fitted.config
    assert back.capabilities == fitted.capabilities
    np.testing.assert_allclose(_yhat(back, seen, origins), _yhat(fitted, seen, origins), rtol=1e-6)
    a = fitted.predict(_window(seen, None, ORIGIN), HORIZON)
    pd.testing.assert_frame_equal(back.predict(_window(seen, None, ORIGIN), HORIZON), a)


@pytest.mark.parametrize("horizon", [0, 169, -1])
def test_bad_horizon_is_a_value_error(fitted: Forecaster, seen: Dataset, horizon: int) -> None:
    with pytest.raises(ValueError, match="horizon"):
        fitted.predict(seen, horizon, origin=ORIGIN)
    with pytest.raises(ValueError, match="horizon"):
        fitted.predict_origins(seen.load, seen.cities, _origins(seen, ORIGIN), horizon)


def test_unseen_city_only_when_supported(fitted: Forecaster, data: Dataset) -> None:
    new = data.city_ids[3]
    history = _window(data.select([new]), None, ORIGIN)
    if fitted.capabilities.supports_unseen_cities:
        assert np.isfinite(fitted.predict(history, HORIZON)["yhat"]).all()
    else:
        with pytest.raises(ValueError, match=new):
            fitted.predict(history, HORIZON)


@pytest.mark.parametrize("kind", kinds())
def test_unknown_config_key_is_a_validation_error(kind: str) -> None:
    with pytest.raises(ValidationError):
        create(kind, {**TINY.get(kind, {}), "no_such_setting": 1})


@pytest.mark.parametrize("kind", kinds())
def test_search_space_names_real_fields(kind: str) -> None:
    cls = model_class(kind)
    space = cls.search_space()
    assert isinstance(space, dict)
    for name, p in space.items():
        assert isinstance(p, Param), name
        assert name in cls.Config.model_fields, f"{kind}: search space names unknown {name!r}"
        if p.kind == "categorical":
            assert p.choices, name
            values = list(p.choices)
        else:
            assert p.low is not None and p.high is not None and p.low <= p.high, name
            assert not p.log or p.low > 0, name
            values = [p.low, p.high] if p.kind == "float" else [int(p.low), int(p.high)]
        for v in values:  # every corner of the space is a valid config
            cls.Config.model_validate({**TINY.get(kind, {}), name: v})
