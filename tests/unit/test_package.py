"""energy.forecast: a package (a trained ensemble plus its history) answers queries like the model.

Also the typed query, the typed errors and the longest horizon a package can answer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy import schema
from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.forecast.package import UnknownCityError, read_package, write_package
from energy.models import kinds as registry

pytestmark = pytest.mark.unit
HOUR = pd.Timedelta(hours=1)


@pytest.fixture(scope="module")
def data() -> Dataset:
    load, cities, events = generate(3, 60, seed=4)
    return Dataset(load=load, cities=cities, events=events, manifest={"content_hash": "abc"})


@pytest.fixture(scope="module")
def package(data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    model = registry.create(
        "ensemble",
        {
            "members": {
                "naive": {"kind": "seasonal_naive", "config": {}},
                "mlr": {"kind": "vanilla_mlr", "config": {}},
            },
            "method": "inverse_error",
            "val_days": 7,
        },
    ).fit(data)
    out = tmp_path_factory.mktemp("pkg")
    write_package(model, data, out, meta={"config_name": "toy"})
    return model, out


def test_package_forecasts_like_the_model(data: Dataset, package: tuple) -> None:
    model, out = package
    pkg = read_package(out)
    assert pkg.cities == data.city_ids
    assert pkg.meta["config_name"] == "toy" and pkg.meta["data_hash"] == "abc"
    assert set(pkg.members) == {"naive", "mlr"}
    start = data.load[schema.TIME].max() - 47 * HOUR  # a past day: loads after it are ignored
    got = pkg.forecast(["syn-001"], start=start, horizon=24, members=True)
    want = model.predict(data.select(["syn-001"]), horizon=24, origin=start)
    np.testing.assert_allclose(got["yhat"].to_numpy(), want["yhat"].to_numpy(), rtol=1e-9)
    assert got["timestamp"].iloc[0] == start and len(got) == 24
    assert {"yhat_naive", "yhat_mlr"} <= set(got.columns)
    assert (got["weather_source"] == "climatology").all()


def test_default_start_is_after_the_last_load(data: Dataset, package: tuple) -> None:
    pkg = read_package(package[1])
    got = pkg.forecast(["syn-000", "syn-002"], horizon=3)
    last = data.load[schema.TIME].max()
    assert (got.groupby("city_id")["timestamp"].min() == last + HOUR).all()
    assert got.groupby("city_id").size().tolist() == [3, 3]


def test_supplied_weather_and_history_change_the_forecast(data: Dataset, package: tuple) -> None:
    pkg = read_package(package[1])
    last = data.load[schema.TIME].max()
    hours = pd.date_range(last + HOUR, periods=24, freq="h")
    hot = pd.DataFrame({"city_id": "syn-000", "timestamp": hours, "temperature_c": 38.0})
    base = pkg.forecast(["syn-000"], horizon=24)
    warm = pkg.forecast(["syn-000"], horizon=24, weather=hot)
    assert (warm["weather_source"] == "supplied").all()
    assert not np.allclose(base["yhat"], warm["yhat"])
    # two more hours of load: the forecast starts after them
    hist = pd.DataFrame(
        {"city_id": "syn-000", "timestamp": [last + HOUR, last + 2 * HOUR], "load_mw": [1.0, 2.0]}
    )
    ext = pkg.forecast(["syn-000"], horizon=2, history=hist)
    assert ext["timestamp"].iloc[0] == last + 3 * HOUR


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"horizon": 0}, "horizon_hours"),
        ({"horizon": 169}, "horizon_hours"),
        ({"start": "yesterday-ish"}, "start"),
        ({"start": "2030-01-01T00:00:00+00:00"}, "start"),
        ({"start": "2020-01-01T00:00:00+00:00"}, "start"),
        ({"start": "2020-02-10T00:30:00+00:00"}, "start"),
    ],
)
def test_bad_requests_name_the_field(package: tuple, kwargs: dict, field: str) -> None:
    pkg = read_package(package[1])
    with pytest.raises(ValueError, match=rf"^{field}: "):
        pkg.forecast(["syn-000"], **kwargs)


def test_unknown_city_and_partial_weather(data: Dataset, package: tuple) -> None:
    pkg = read_package(package[1])
    with pytest.raises(UnknownCityError, match="'nowhere'"):
        pkg.forecast(["nowhere"])
    last = data.load[schema.TIME].max()
    part = pd.DataFrame(
        {"city_id": "syn-000", "timestamp": pd.date_range(last + HOUR, periods=5, freq="h"),
         "temperature_c": 20.0}
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"^weather: 'syn-000' has no value"):
        pkg.forecast(["syn-000"], horizon=24, weather=part)
