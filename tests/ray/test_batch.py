"""Batch inference with Ray Data: the actor pool writes what the package forecasts in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.distributed.batch import OUTPUT_COLUMNS, score_package
from energy.forecast import read_package, write_package
from energy.models import kinds as registry

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]
HOUR = pd.Timedelta(hours=1)


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    load, cities, events = generate(5, 40, seed=2)
    data = Dataset(load=load, cities=cities, events=events, manifest={"content_hash": "b"})
    model = registry.create(
        "ensemble",
        {
            "members": {
                "xgb": {"kind": "xgboost", "config": {"n_estimators": 5, "n_jobs": 1}},
                "mlr": {"kind": "vanilla_mlr"},
            },
            "method": "mean",
        },
    ).fit(data)
    return write_package(model, data, tmp_path_factory.mktemp("batch"), meta={})


def test_actor_pool_scores_every_city_like_the_package(
    ray_local: None, package_dir: Path, tmp_path: Path
) -> None:
    pkg = read_package(package_dir)
    start = pkg.next_start(pkg.cities[0]) - 48 * HOUR
    res = score_package(
        package_dir, pkg.cities, tmp_path / "out.parquet", start=start, horizon=12,
        batch_size=2, actors=2, progress=False,
    )  # fmt: skip
    got = pd.read_parquet(res.out)
    assert list(got.columns) == list(OUTPUT_COLUMNS)
    assert res.rows == len(got) == 5 * 12 and res.cities == 5 and res.actors == 2
    want = pkg.forecast(pkg.cities, start=start, horizon=12)
    got = got.sort_values(["city_id", "step"], ignore_index=True)
    want = want.sort_values(["city_id", "step"], ignore_index=True)
    assert (got["city_id"] == want["city_id"]).all()
    assert (pd.DatetimeIndex(got["timestamp"]) == pd.DatetimeIndex(want["timestamp"])).all()
    np.testing.assert_allclose(got["yhat"], want["yhat"], rtol=1e-9)
