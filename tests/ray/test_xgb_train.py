"""Sharded XGBoost on Ray Train (two workers over Ray Data shards) against single-process XGBoost
at the same rounds; the trained boosters live in the ordinary XGBoost forecaster."""

from __future__ import annotations

import numpy as np
import pytest
from train_helpers import CUT, TEST, TINY_XGB, day_ahead, rows, synthetic_data

from energy.distributed import RaySettings
from energy.distributed.backend import ray_training
from energy.evaluation import metrics
from energy.models.base import Forecaster
from energy.models.ensemble import actuals
from energy.models.kinds import create
from energy.models.xgb import XGBoostForecaster

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


def test_sharded_xgboost_matches_single_process(ray_local, tmp_path):
    ds = synthetic_data(n_cities=3)
    train, val = rows(ds, end=CUT), rows(ds, CUT, TEST)
    single = create("xgboost", TINY_XGB).fit(train, val)
    # half a CPU per worker: the two workers leave room for Ray Data on a 2-CPU instance
    settings = RaySettings(num_workers=2, cpus_per_worker=0.5, storage_path=str(tmp_path))
    with ray_training(settings):
        sharded = create("xgboost", TINY_XGB).fit(train, val)

    assert isinstance(sharded, XGBoostForecaster)
    assert sharded.group_ends_ == single.group_ends_ == [12, 24]
    origins = day_ahead(ds, days=5)
    y = actuals(ds.load, origins, 24)
    err = {}
    for name, model in (("single", single), ("sharded", sharded)):
        yhat = model.predict_origins(ds.load, ds.cities, origins, 24)["yhat"].to_numpy()
        assert np.isfinite(yhat).all()
        err[name] = metrics.mape(y.reshape(-1), yhat)
    # same data, rounds and early stopping; only the quantile sketch is merged across shards
    assert err["sharded"] == pytest.approx(err["single"], rel=0.15, abs=0.3), err
    for a, b in zip(single.boosters_, sharded.boosters_, strict=True):
        assert abs(a.num_boosted_rounds() - b.num_boosted_rounds()) <= 10

    again = Forecaster.load(sharded.save(tmp_path / "model"))
    assert isinstance(again, XGBoostForecaster)
    np.testing.assert_array_equal(
        again.predict_origins(ds.load, ds.cities, origins, 24)["yhat"].to_numpy(),
        sharded.predict_origins(ds.load, ds.cities, origins, 24)["yhat"].to_numpy(),
    )
