"""energy.forecast: a package (a trained ensemble plus its history) answers queries like the model.

Also the typed query, the typed errors and the longest horizon a package can answer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy import schema
from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.forecast import (
    ForecastInputError,
    ForecastQuery,
    ModelUnavailableError,
    UnknownCityError,
    forecast,
    forecast_table,
    queries_from_table,
    read_package,
    verify_package,
    write_package,
)
from energy.models import kinds as registry
from energy.models.base import MAX_HORIZON

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


# ---- typed errors: field and value travel as attributes ----------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "field", "value"),
    [
        ({"horizon": 0}, ForecastInputError, "horizon_hours", 0),
        ({"horizon": "24"}, ForecastInputError, "horizon_hours", "24"),
        ({"start": "yesterday-ish"}, ForecastInputError, "start", "yesterday-ish"),
        ({"start": "2020-02-10T00:30:00+00:00"}, ForecastInputError, "start", None),
        ({"members": "yes"}, ForecastInputError, "members", "yes"),
    ],
)
def test_errors_carry_field_and_value(
    package: tuple, kwargs: dict, error: type, field: str, value: object
) -> None:
    pkg = read_package(package[1])
    with pytest.raises(error) as info:
        pkg.forecast(["syn-000"], **kwargs)
    assert info.value.field == field and str(info.value).startswith(f"{field}: ")
    if value is not None:
        assert info.value.value == value


def test_unknown_city_is_typed_and_located_in_a_batch(package: tuple) -> None:
    pkg = read_package(package[1])
    with pytest.raises(UnknownCityError) as info:
        forecast(pkg, ForecastQuery(("syn-000", "nowhere")))
    assert (info.value.field, info.value.value) == ("city_id", "nowhere")
    moved = info.value.located("requests[3]")
    assert isinstance(moved, UnknownCityError) and moved.field == "requests[3].city_id"
    assert str(moved).startswith("requests[3].city_id: unknown city 'nowhere'")


def test_query_is_checked_once_when_built() -> None:
    q = ForecastQuery(("b", "a", "b"), start="2020-01-01T05:00:00", horizon_hours=np.int64(3))
    assert q.city_ids == ("b", "a") and q.horizon_hours == 3 and q.cacheable
    assert q.start == pd.Timestamp("2020-01-01T05:00:00", tz="UTC")  # naive means UTC
    with pytest.raises(ForecastInputError, match=r"^city_id: no city given"):
        ForecastQuery(())
    hist = pd.DataFrame({"city_id": "z", "timestamp": [pd.Timestamp("2020-01-01", tz="UTC")],
                         "load_mw": [1.0]})  # fmt: skip
    with pytest.raises(ForecastInputError, match=r"^history: city_id 'z' is not among") as info:
        ForecastQuery(("a",), history=hist)
    assert info.value.field == "history"


def test_request_tables_become_queries(data: Dataset, package: tuple) -> None:
    """The MLflow pyfunc's input (and a batch job's file): one query per (start, horizon)."""
    table = pd.DataFrame(
        {"city_id": ["syn-000", "syn-001", "syn-002"], "start": ["", "", "2020-02-01T00:00:00"],
         "horizon_hours": [24, 24, np.nan]}
    )  # fmt: skip
    qs = queries_from_table(table, members=True)
    assert [(q.city_ids, q.horizon_hours, q.members) for q in qs] == [
        (("syn-000", "syn-001"), 24, True),
        (("syn-002",), 24, True),
    ]
    assert qs[0].start is None and qs[1].start == pd.Timestamp("2020-02-01", tz="UTC")
    last = data.load[schema.TIME].max()
    hours = pd.date_range(last + HOUR, periods=6, freq="h")
    hourly = pd.DataFrame({"city_id": "syn-001", "timestamp": hours.astype(str),
                           "temperature_c": 30.0})  # fmt: skip
    (q,) = queries_from_table(hourly)
    assert q.start == last + HOUR and q.horizon_hours == 6 and q.weather is not None
    got = forecast_table(read_package(package[1]), hourly)  # what the pyfunc answers
    assert len(got) == 6 and (got["weather_source"] == "supplied").all()


# ---- the longest horizon: one fact, derived from the models, stored once -----------------------
def test_an_ensemble_answers_what_all_its_members_answer(package: tuple) -> None:
    model, out = package  # seasonal naive + vanilla MLR: no horizon-bound load features
    assert model.max_horizon == MAX_HORIZON
    assert json.loads((out / "package.json").read_text())["max_horizon_hours"] == MAX_HORIZON
    assert len(read_package(out).forecast(["syn-000"], horizon=MAX_HORIZON)) == MAX_HORIZON


@pytest.fixture(scope="module")
def xgb_package(data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A non-ensemble package whose load features were fit for 12 h."""
    cfg = {"n_estimators": 5, "max_depth": 2, "n_jobs": 1, "features": {"horizon": 12}}
    model = registry.create("xgboost", cfg).fit(data)
    assert model.max_horizon == 12
    return write_package(model, data, tmp_path_factory.mktemp("xgb"))


def test_a_single_model_package_records_its_own_horizon(xgb_package: Path) -> None:
    """Regression: a non-ensemble package recorded 24 h and a longer request failed deep in the
    model with an untyped error (a 422 whose ``field`` was null)."""
    assert json.loads((xgb_package / "package.json").read_text())["max_horizon_hours"] == 12
    pkg = read_package(xgb_package)
    assert pkg.max_horizon == 12 and len(pkg.forecast(["syn-000"], horizon=12)) == 12
    with pytest.raises(ForecastInputError) as info:
        pkg.forecast(["syn-000"], horizon=13)
    assert (info.value.field, info.value.value) == ("horizon_hours", 13)
    assert "1..12" in str(info.value)


def test_the_serve_adapter_maps_a_long_horizon_to_422(xgb_package: Path) -> None:
    """The Serve service (plain Python) answers with the typed error; one mapping gives 422."""
    from serve_app.schemas import ForecastRequest, ModelInfo
    from serve_app.service import ForecastService, http_status

    pkg = read_package(xgb_package)
    info = ModelInfo(name="x", version="1", source="package", kind="xgboost",
                     horizon=pkg.max_horizon, loaded_at="now")  # fmt: skip
    svc = ForecastService(pkg, info, cache_size=0)
    (err,) = svc.forecast_many([ForecastRequest(city_id="syn-001", horizon_hours=48)])
    assert isinstance(err, ForecastInputError) and http_status(err) == 422
    assert (err.field, err.value) == ("horizon_hours", 48) and "1..12" in err.message
    (missing,) = svc.forecast_many([ForecastRequest(city_id="atlantis")])
    assert http_status(missing) == 404 and missing.field == "city_id"
    assert http_status(ModelUnavailableError("no model loaded")) == 503
    ok = svc.forecast(ForecastRequest(city_id="syn-001", horizon_hours=12))
    assert len(ok.points) == 12 and ok.start == pkg.next_start("syn-001")


def test_a_package_cannot_claim_more_than_its_models(xgb_package: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(xgb_package, tmp_path / "pkg")
    meta = json.loads((copy / "package.json").read_text())
    (copy / "package.json").write_text(json.dumps({**meta, "max_horizon_hours": 48}))
    with pytest.raises(ModelUnavailableError, match="claims max_horizon_hours 48"):
        read_package(copy)
    del meta["max_horizon_hours"]  # written before it was recorded: derived from the model
    (copy / "package.json").write_text(json.dumps(meta))
    assert read_package(copy).max_horizon == 12


def test_verify_names_the_missing_file(package: tuple, tmp_path: Path) -> None:
    meta = verify_package(package[1])
    assert meta["kind"] == "ensemble"
    (tmp_path / "package.json").write_text("{}")
    with pytest.raises(ModelUnavailableError, match=r"has no history\.parquet"):
        read_package(tmp_path)


# ---- one climatology fallback ------------------------------------------------------------------
def test_climatology_fills_only_missing_weather(package: tuple) -> None:
    model, _ = package
    hours = pd.date_range("2020-07-01", periods=4, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {"city_id": "syn-000", "timestamp": hours, "temperature_c": [5.0, np.nan, 7.0, np.nan]}
    )
    tz = {"syn-000": "UTC"}
    got = model.climatology_.fill(frame, tz)
    clim = model.climatology_.lookup("syn-000", hours, "UTC")["temperature_c"].to_numpy()
    np.testing.assert_allclose(got["temperature_c"], [5.0, clim[1], 7.0, clim[3]])
    assert frame["temperature_c"].isna().sum() == 2  # the input is left as it was


# ---- integrity: a sha256 manifest, verified on load (issue 18, item 11) --------------------------
@pytest.mark.parametrize(
    ("tamper", "file", "problem"),
    [
        (lambda p: (p / "model" / "model.json").write_text("{}"), "model/model.json", "sha256"),
        (lambda p: (p / "history.parquet").unlink(), "history.parquet", "has no"),
        (lambda p: (p / "model" / "evil.pkl").write_bytes(b"x"), "model/evil.pkl", "not in its"),
        (lambda p: (p / "cities.parquet").write_bytes(b"PAR1"), "cities.parquet", "sha256"),
    ],
)
def test_a_tampered_package_is_refused_naming_the_file(
    xgb_package: Path, tmp_path: Path, tamper, file: str, problem: str
) -> None:
    import shutil

    from energy.forecast import ModelUnavailableError

    pkg = shutil.copytree(xgb_package, tmp_path / "pkg")
    meta = json.loads((pkg / "package.json").read_text())
    assert "model/model.json" in meta["files"] and len(meta["files"]["history.parquet"]) == 64
    read_package(pkg)  # intact: loads
    tamper(pkg)
    with pytest.raises(ModelUnavailableError, match=f"{file}.*{problem}|{problem} {file}"):
        read_package(pkg)


def test_a_package_without_a_manifest_is_refused(xgb_package: Path, tmp_path: Path) -> None:
    import shutil

    from energy.forecast import ModelUnavailableError

    pkg = shutil.copytree(xgb_package, tmp_path / "old")
    meta = json.loads((pkg / "package.json").read_text())
    del meta["files"]
    (pkg / "package.json").write_text(json.dumps(meta))
    with pytest.raises(ModelUnavailableError, match="records no sha256 manifest"):
        read_package(pkg)


def test_files_beside_the_package_are_not_part_of_it(xgb_package: Path, tmp_path: Path) -> None:
    """A training run writes train.json and backtest/ into the same folder after the package."""
    import shutil

    pkg = shutil.copytree(xgb_package, tmp_path / "run")
    (pkg / "train.json").write_text("{}")
    (pkg / "backtest").mkdir()
    (pkg / "backtest" / "metrics.json").write_text("{}")
    assert read_package(pkg).max_horizon == 12
