"""Per-city fan-out on a local Ray instance: cities packed several per task, live progress, and
one failing city that fails loudly without losing the others' models."""

from __future__ import annotations

import numpy as np
import pytest
from train_helpers import CUT, TEST, TINY_XGB, day_ahead, rows, synthetic_data

from energy import schema
from energy.data.dataset import Dataset
from energy.distributed import RaySettings
from energy.distributed.backend import ray_training
from energy.distributed.fanout import FanoutError, auto_cities_per_task
from energy.models.kinds import create
from energy.models.per_city import fit_city
from energy.models.spec import ModelSpec

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]
SPEC = {"kind": "xgboost", "config": {**TINY_XGB, "strategy": "shared"}}


def test_one_failing_city_fails_loudly_and_keeps_the_others(ray_local):
    ds = synthetic_data(n_cities=4, seed=1)
    bad = ds.city_ids[2]
    load = ds.load.copy()
    load.loc[load[schema.CITY] == bad, schema.LOAD] = np.nan  # nothing to learn from
    ds = Dataset(load=load, cities=ds.cities, events=ds.events)
    train, val = rows(ds, end=CUT), rows(ds, CUT, TEST)
    lines: list[str] = []
    settings = RaySettings(cities_per_task=2, cpus_per_task=0.5, max_concurrency=2)

    with pytest.raises(FanoutError) as err, ray_training(settings, progress=lines.append):
        create("per_city", {"model": SPEC}).fit(train, val)

    assert f"1 of 4 cities failed to train — {bad}: ValueError: train: no load values" in str(
        err.value
    )
    result = err.value.result
    assert result.n_tasks == 2 and result.cities_per_task == 2
    assert sorted(result.models) == sorted(c for c in ds.city_ids if c != bad)
    table = result.table()
    assert list(table["status"]) == ["ok", "ok", "FAILED", "ok"]
    assert (table["peak_rss_mb"] > 0).all() and table["pid"].nunique() >= 1
    # live progress: every city counted, the failure shown, then the final table
    assert any("cities 4/4 done, 1 failed" in line for line in lines), lines
    assert any("fan-out: 4 cities of xgboost in 2 task(s) of ≤2" in line for line in lines)
    assert any(line.split()[:2] == [bad, "FAILED"] for line in lines), lines
    # each city's model is what the in-process per-city loop fits (same function, same seed)
    city = ds.city_ids[0]
    local = fit_city(ModelSpec.model_validate(SPEC), train, val, city)
    origins = day_ahead(ds.select([city]))
    np.testing.assert_allclose(
        result.models[city].predict_origins(ds.load, ds.cities, origins, 24)["yhat"],
        local.predict_origins(ds.load, ds.cities, origins, 24)["yhat"],
        rtol=1e-6,
    )


def test_packing_targets_about_four_tasks_per_slot():
    assert auto_cities_per_task(8, slots=2) == 1  # few cities: one per task
    assert auto_cities_per_task(8, slots=1) == 2
    assert auto_cities_per_task(500, slots=16) == 8  # 63 tasks, not 500
    assert auto_cities_per_task(3, slots=16) == 1
