"""The forecast API over real HTTP: answers, every error class, OpenAPI, 503 before a model."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from energy.forecast.package import read_package
from serve_app.app import ServeOptions, build_app, wait_ready

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def api(serve_url: str, tiny_package: Path) -> str:
    from ray import serve

    opts = ServeOptions(package=str(tiny_package), max_replicas=1, num_cpus=0.5)
    serve.run(build_app(opts), name="api", route_prefix="/api")
    assert wait_ready(f"{serve_url}/api", timeout_s=60)
    return f"{serve_url}/api"


def post(url: str, body: Any, path: str = "/v1/forecast") -> requests.Response:
    return requests.post(url + path, json=body, timeout=60)


def test_single_forecast_matches_the_package(api: str, tiny_package: Path) -> None:
    pkg = read_package(tiny_package)
    r = post(api, {"city_id": "syn-001", "horizon_hours": 24, "members": True})
    assert r.status_code == 200, r.text
    body = r.json()
    want = pkg.forecast(["syn-001"], horizon=24, members=True)
    got = [p["forecast_mw"] for p in body["points"]]
    assert got == pytest.approx(want["yhat"].tolist(), rel=1e-9)
    assert body["weather_source"] == "climatology" and len(body["points"]) == 24
    assert set(body["points"][0]["members"]) == {"xgboost", "lstm", "transformer"}
    assert pd.Timestamp(body["start"]) == pkg.last_load_time("syn-001") + pd.Timedelta(hours=1)
    assert body["model"]["version"].startswith("pkg-")


def test_weather_and_history_are_used(api: str, tiny_package: Path) -> None:
    pkg = read_package(tiny_package)
    nxt = pkg.last_load_time("syn-000") + pd.Timedelta(hours=1)
    hours = pd.date_range(nxt, periods=6, freq="h")
    hot = [{"timestamp": t.isoformat(), "temperature_c": 39.0} for t in hours]
    base = post(api, {"city_id": "syn-000", "horizon_hours": 6}).json()
    warm = post(api, {"city_id": "syn-000", "horizon_hours": 6, "weather": hot}).json()
    assert warm["weather_source"] == "supplied"
    assert [p["forecast_mw"] for p in warm["points"]] != [p["forecast_mw"] for p in base["points"]]
    hist = [{"timestamp": nxt.isoformat(), "load_mw": 400.0}]
    ext = post(api, {"city_id": "syn-000", "horizon_hours": 2, "history": hist}).json()
    assert pd.Timestamp(ext["start"]) == nxt + pd.Timedelta(hours=1)


def test_batch_forecast(api: str, tiny_package: Path) -> None:
    pkg = read_package(tiny_package)
    start = (pkg.last_load_time("syn-002") - pd.Timedelta(hours=47)).isoformat()
    reqs = [{"city_id": c, "horizon_hours": 12} for c in pkg.cities]
    reqs.append({"city_id": "syn-002", "start": start, "horizon_hours": 3})
    r = post(api, {"requests": reqs}, "/v1/forecast/batch")
    assert r.status_code == 200, r.text
    out = r.json()["forecasts"]
    assert [f["city_id"] for f in out] == [*pkg.cities, "syn-002"]
    assert [len(f["points"]) for f in out] == [12, 12, 12, 3]
    assert pd.Timestamp(out[-1]["start"]) == pd.Timestamp(start)
    single = post(api, {"city_id": "syn-001", "horizon_hours": 12}).json()
    assert out[1]["points"] == single["points"]


@pytest.mark.parametrize(
    ("body", "status", "field", "value"),
    [
        ({"city_id": "atlantis"}, 404, "city_id", "atlantis"),
        ({"city_id": "syn-000", "horizon_hours": 0}, 422, "horizon_hours", 0),
        ({"city_id": "syn-000", "horizon_hours": 169}, 422, "horizon_hours", 169),
        # past the 24 h the members were trained for: named, not a null field
        ({"city_id": "syn-000", "horizon_hours": 48}, 422, "horizon_hours", 48),
        ({"city_id": "syn-000", "horizon_hours": "lots"}, 422, "horizon_hours", "lots"),
        ({"city_id": "syn-000", "start": "2020-02-01T00:00:00"}, 422, "start", None),
        ({"city_id": "syn-000", "start": "last tuesday"}, 422, "start", "last tuesday"),
        ({"city_id": "syn-000", "start": "2020-02-01T00:30:00+00:00"}, 422, "start", None),
        ({"city_id": "syn-000", "start": "2031-01-01T00:00:00+00:00"}, 422, "start", None),
        ({"city_id": "syn-000", "start": "2019-01-01T00:00:00+00:00"}, 422, "start", None),
        ({"city_id": "syn-000", "horizon": 24}, 422, "horizon", 24),
        ({"horizon_hours": 3}, 422, "city_id", None),
        (
            {"city_id": "syn-000", "weather": [{"timestamp": "2020-02-20T00:00:00+00:00",
                                                "temperature_c": 20.0}]},
            422, "weather", None,
        ),
        (
            {"city_id": "syn-000", "weather": [{"timestamp": "2020-02-20T00:00:00+00:00",
                                                "temperature_c": 900.0}]},
            422, "weather.0.temperature_c", 900.0,
        ),
        ({"city_id": "syn-000", "history": [{"timestamp": "x", "load_mw": 1}]}, 422,
         "history.0.timestamp", "x"),
    ],
)  # fmt: skip
def test_errors_name_the_field_and_value(
    api: str, body: dict, status: int, field: str, value: Any
) -> None:
    r = post(api, body)
    assert r.status_code == status, r.text
    err = r.json()
    assert err["field"] == field and err["error"].startswith(field)
    if value is not None:
        assert err["value"] == value


def test_batch_errors_name_the_entry(api: str) -> None:
    reqs = [{"city_id": "syn-000"}, {"city_id": "syn-001", "start": "2020-02-01T00:30:00+01:00"}]
    r = post(api, {"requests": reqs}, "/v1/forecast/batch")
    assert r.status_code == 422 and r.json()["field"] == "requests[1].start", r.text
    r = post(
        api, {"requests": [{"city_id": "syn-000"}, {"city_id": "nowhere"}]}, "/v1/forecast/batch"
    )
    assert r.status_code == 404 and r.json()["field"] == "requests[1].city_id"
    r = post(api, {"requests": []}, "/v1/forecast/batch")
    assert r.status_code == 422 and r.json()["field"] == "requests"


def test_garbage_is_never_a_500(api: str) -> None:
    bodies = ["not json", "[]", "null", '{"city_id": 5}', '{"city_id": null}', "{" * 50]
    for b in bodies:
        r = requests.post(api + "/v1/forecast", data=b, timeout=30,
                          headers={"content-type": "application/json"})  # fmt: skip
        assert 400 <= r.status_code < 500, (b, r.status_code, r.text)
        assert r.json()["error"]


def test_cities_model_health_and_openapi(api: str, tiny_package: Path) -> None:
    cities = requests.get(api + "/v1/cities", timeout=30).json()["cities"]
    assert [c["city_id"] for c in cities] == ["syn-000", "syn-001", "syn-002"]
    model = requests.get(api + "/v1/model", timeout=30).json()
    assert model["kind"] == "ensemble" and model["data_hash"] == "syn7"
    assert model["members"] == ["xgboost", "lstm", "transformer"] and model["trained_at"]
    assert model["horizon"] == 24  # the longest horizon its members were trained for
    assert requests.get(api + "/healthz", timeout=30).json()["status"] == "ok"
    assert requests.get(api + "/readyz", timeout=30).status_code == 200
    schema = requests.get(api + "/openapi.json", timeout=30).json()
    assert {"/v1/forecast", "/v1/forecast/batch", "/v1/cities", "/v1/model"} <= set(schema["paths"])
    assert "ForecastRequest" in schema["components"]["schemas"]
    docs = requests.get(api + "/docs", timeout=30)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_503_until_a_model_appears(serve_url: str, tiny_package: Path, tmp_path: Path) -> None:
    from ray import serve

    empty = tmp_path / "not-yet"
    empty.mkdir()
    opts = ServeOptions(package=str(empty), max_replicas=1, num_cpus=0.5, poll_s=0.3)
    serve.run(build_app(opts), name="late", route_prefix="/late")
    url = f"{serve_url}/late"
    r = post(url, {"city_id": "syn-000"})
    assert r.status_code == 503 and "no model" in r.json()["error"], r.text
    assert requests.get(url + "/readyz", timeout=30).status_code == 503
    assert requests.get(url + "/healthz", timeout=30).status_code == 200
    for f in tiny_package.iterdir():  # package.json last, as write_package does
        if f.name != "package.json":
            (shutil.copytree if f.is_dir() else shutil.copy)(f, empty / f.name)
    shutil.copy(tiny_package / "package.json", empty / "package.json")
    assert wait_ready(url, timeout_s=60)
    assert post(url, {"city_id": "syn-000"}).status_code == 200
    serve.delete("late")
    time.sleep(0)  # nothing to wait for: delete is synchronous


def test_serve_yaml_is_a_valid_serve_config() -> None:
    import yaml
    from ray.serve.schema import ServeDeploySchema

    cfg = yaml.safe_load((Path(__file__).parents[2] / "cluster" / "serve.yaml").read_text())
    schema = ServeDeploySchema.model_validate(cfg)
    (app,) = schema.applications
    assert app.import_path == "serve_app.app:app" and schema.http_options.host == "127.0.0.1"
    opts = ServeOptions.model_validate(app.args)  # the builder's arguments
    assert opts.model_name == "energy-forecast" and opts.alias == "champion"
    (dep,) = app.deployments
    scaling = dep.autoscaling_config
    assert dep.name == "forecast" and scaling["min_replicas"] == 1 and scaling["max_replicas"] >= 2
    assert set(dep.user_config) == set(opts.settings())  # what reconfigure() understands
    with pytest.raises(ValueError, match="exactly one"):
        ServeOptions.model_validate({"package": "/x", "model_name": "y"})
