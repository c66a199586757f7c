"""Search spaces and tune settings: neutral Params → Ray Tune, YAML overrides, clear errors; the
lockstep boosting of tuning trials grows the same trees as the model's own fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from ray.tune.search.sample import Categorical, Float, Integer

from energy import schema
from energy.data.cleaning import clean
from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.distributed import search_space as ss
from energy.distributed.tune import TuneSettings, load_settings, prepare
from energy.distributed.tune_trial import TrialBackend
from energy.models.backend import use_backend
from energy.models.base import Param
from energy.models.kinds import create
from energy.models.xgb import XGBoostForecaster

pytestmark = pytest.mark.unit

PROFILE = """
horizon: 24
features: {horizon: 24, lags: [24, 48, 168]}
models:
  xgboost: {n_estimators: 50, max_depth: 4, learning_rate: 0.05}
  lstm: {hidden_sizes: [64, 32], lookback: 168, epochs: 3}
"""


@pytest.fixture
def profile(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(PROFILE)
    return p


def test_default_space_is_the_models_own() -> None:
    space, fixed = ss.resolve_space("xgboost")
    assert space == XGBoostForecaster.search_space() and fixed == {}


def test_overrides_replace_add_drop_and_fix() -> None:
    space, fixed = ss.resolve_space("xgboost", {
        "max_depth": {"kind": "int", "low": 2, "high": 4},
        "tree_method": ["hist", "approx"],
        "subsample": None,
        "n_estimators": 300,
    })  # fmt: skip
    assert space["max_depth"] == Param("int", 2, 4)
    assert space["tree_method"] == Param("categorical", choices=("hist", "approx"))
    assert "subsample" not in space and "n_estimators" not in space
    assert fixed == {"n_estimators": 300}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"max_dept": {"kind": "int", "low": 1, "high": 3}}, "space.max_dept: xgboost has no"),
        ({"max_depth": {"kind": "int", "low": 5, "high": 3}}, "space.max_depth: low 5"),
        ({"learning_rate": {"kind": "float", "low": 0, "high": 1, "log": True}}, "log scale"),
        ({"max_depth": {"kind": "integer", "low": 1, "high": 3}}, "kind 'integer'"),
        ({"max_depth": {"low": 1, "high": 3}}, "needs kind"),
        ({"max_depth": {"kind": "int", "low": 1, "hi": 3}}, "unknown key 'hi'"),
        ({"tree_method": []}, "non-empty list"),
        ({"max_depth": {"kind": "int", "low": 1.5, "high": 3}}, "whole numbers"),
    ],
)
def test_invalid_spaces_name_the_field(override: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ss.resolve_space("xgboost", override)


def test_unknown_algorithm_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="--search: unknown algorithm 'hyperband'"):
        ss.to_tune(ss.resolve_space("xgboost")[0], "hyperband")
    with pytest.raises(ValidationError, match=r"search\n.*unknown algorithm 'bohb'"):
        TuneSettings(model="xgboost", search="bohb")
    with pytest.raises(ValidationError, match="model"):
        TuneSettings(model="prophet")


def test_settings_reject_val_mape_with_asha_and_read_yaml(tmp_path) -> None:
    with pytest.raises(ValidationError, match="ASHA needs a per-epoch metric"):
        TuneSettings(model="xgboost", metric="val_mape")
    f = tmp_path / "t.yaml"
    f.write_text("samples: 7\nspace: {max_depth: [2, 3]}\nsearch: random\n")
    s = load_settings(f, model="xgboost", search="grid", samples=None)
    assert (s.samples, s.search, s.space) == (7, "grid", {"max_depth": [2, 3]})
    f.write_text("sampels: 7\n")
    with pytest.raises(ValidationError, match="sampels"):
        load_settings(f, model="xgboost")


def test_translation_per_algorithm() -> None:
    space, _ = ss.resolve_space("lstm")
    tpe, notes = ss.to_tune(space, "tpe")
    assert isinstance(tpe["lr"], Float) and isinstance(tpe["hidden_sizes"], Categorical)
    assert notes == []
    # non-scalar choices travel as JSON text (Optuna's categoricals hold scalars only)
    assert "[64, 32]" in tpe["hidden_sizes"].categories
    assert ss.from_tune({"hidden_sizes": "[64, 32]", "lr": 0.01}, space) == {
        "hidden_sizes": [64, 32], "lr": 0.01}  # fmt: skip
    xgb_space, _ = ss.resolve_space("xgboost")
    assert isinstance(ss.to_tune(xgb_space, "random")[0]["max_depth"], Integer)
    gp, notes = ss.to_tune(space, "gp")  # continuous only: categoricals keep the profile's value
    assert set(gp) == {"lr", "weight_decay", "dropout"} and len(notes) == 4
    gp_x, _ = ss.to_tune(xgb_space, "gp")
    assert isinstance(gp_x["max_depth"], Float)  # an int as a float, rounded for the trial
    assert ss.from_tune({"max_depth": 4.6}, xgb_space) == {"max_depth": 5}
    small = {"max_depth": Param("int", 2, 4), "lr": Param("float", 0.01, 1.0, log=True)}
    grid, _ = ss.to_tune(small, "grid")
    assert grid["max_depth"] == {"grid_search": [2, 3, 4]}
    assert grid["lr"] == {"grid_search": [0.01, 0.1, 1.0]}


def test_prepare_checks_the_space_against_the_profile(profile) -> None:
    s = prepare(profile, TuneSettings(model="lstm"))
    # lookback 72 < the largest lag 168: dropped with a note, not a failing trial later
    assert s.spec.space["lookback"].choices == (168, 336)
    assert any("lookback: choice 72 dropped" in n for n in s.notes)
    s = prepare(profile, TuneSettings(model="xgboost", space={"n_estimators": None}))
    assert s.point is not None and s.point["max_depth"] == 4  # the profile is tried first
    with pytest.raises(ValueError, match="grid has 2187 points, more than 20"):
        prepare(profile, TuneSettings(model="xgboost", search="grid"))
    with pytest.raises(ValueError, match=r"space\.lookback: no choice fits"):
        prepare(profile, TuneSettings(model="lstm", space={"lookback": [24, 48]}))
    with pytest.raises(FileNotFoundError, match=r"--config: 'nope\.yaml' does not exist"):
        prepare("nope.yaml", TuneSettings(model="lstm"))


@pytest.mark.parametrize("strategy", ["shared", "per_step"])
def test_lockstep_boosting_grows_the_models_own_trees(strategy: str) -> None:
    load, cities, events = generate(3, 40, seed=4)
    cleaned, _ = clean(load, cities)
    t = cleaned[schema.TIME]
    cut = t.min() + pd.Timedelta(days=33)
    train = Dataset(cleaned[t < cut].reset_index(drop=True), cities, events)
    val = Dataset(cleaned[t >= cut].reset_index(drop=True), cities, events)
    cfg = {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.3, "n_jobs": 1,
           "early_stopping_rounds": 4, "strategy": strategy, "subsample": 0.8}  # fmt: skip
    alone = XGBoostForecaster(cfg).fit(train, val)
    reports: list[dict[str, float]] = []
    with use_backend(TrialBackend(reports.append, boost_chunk=5)):
        tuned = XGBoostForecaster(cfg).fit(train, val)
    assert [b.num_boosted_rounds() for b in tuned.boosters_] == [
        b.num_boosted_rounds() for b in alone.boosters_]  # fmt: skip
    a, b = alone.predict(val, horizon=24), tuned.predict(val, horizon=24)
    np.testing.assert_array_equal(a["yhat"].to_numpy(), b["yhat"].to_numpy())
    assert reports and all(r["boost_round"] % 5 == 0 for r in reports[:-1])
    best = [r["best_val_loss"] for r in reports]
    assert best == sorted(best, reverse=True)  # best so far never rises


def test_neural_trial_reports_every_epoch_and_trains_the_models_own_net() -> None:
    load, cities, events = generate(2, 40, seed=0)
    t = load[schema.TIME]
    cut = t.min() + pd.Timedelta(days=33)
    train = Dataset(load[t < cut].reset_index(drop=True), cities, events)
    val = Dataset(load[t >= cut].reset_index(drop=True), cities, events)
    cfg = {"features": {"lags": [24, 48, 168], "rolling_windows": [24]}, "lookback": 48,
           "epochs": 2, "patience": 0, "max_train_windows_per_epoch": 128, "val_stride": 12,
           "hidden_sizes": [8], "head_hidden": 8, "future_dim": 4}  # fmt: skip
    alone = create("lstm", cfg).fit(train, val)
    reports: list[dict[str, float]] = []
    with use_backend(TrialBackend(reports.append, boost_chunk=5)):
        tuned = create("lstm", cfg).fit(train, val)
    assert [r["epoch"] for r in reports] == [1.0, 2.0]
    assert [r["val_loss"] for r in reports] == [h["val_loss"] for h in alone.history_]
    assert tuned.backend_run_ is None  # trained in this process
    a, b = alone.predict(val, horizon=24), tuned.predict(val, horizon=24)
    np.testing.assert_array_equal(a["yhat"].to_numpy(), b["yhat"].to_numpy())
