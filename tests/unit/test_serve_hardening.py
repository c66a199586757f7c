"""Issue 18, items 3-6 and 10 without Ray: the start range, per-request isolation, limits and
the request guard, token checks, and the loader's cleanup, backoff and log-once on a broken
champion. The same behaviour over real HTTP is in tests/serve/test_hardening.py."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import serve_app.service as service_module
from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.forecast import ForecastInputError, parse_start, read_package, write_package
from energy.models import kinds as registry
from serve_app.auth import AuthConfigError, load_token, require_token_off_loopback
from serve_app.limits import (
    Admission,
    GuardSettings,
    LimitError,
    Limits,
    RequestGuard,
    check_batch,
)
from serve_app.loader import ModelHolder, ModelSource
from serve_app.schemas import ForecastRequest, ModelInfo
from serve_app.service import ForecastService, InternalForecastError, http_status

pytestmark = pytest.mark.unit
TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def data() -> Dataset:
    load, cities, events = generate(3, 40, seed=5)
    return Dataset(load=load, cities=cities, events=events, manifest={"content_hash": "h18"})


@pytest.fixture(scope="module")
def naive_package(data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = registry.create("seasonal_naive", {}).fit(data)
    return write_package(model, data, tmp_path_factory.mktemp("naive") / "pkg")


def _service(pkg_dir: Path) -> ForecastService:
    pkg = read_package(pkg_dir)
    info = ModelInfo(name="pkg", version="1", source="package", kind=pkg.model.kind, loaded_at="-")
    return ForecastService(pkg, info, cache_size=0)


# ---- item 4: a start outside pandas' range is a 422 naming `start` -----------------------------
@pytest.mark.parametrize(
    "start",
    [
        datetime(3000, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1677, 1, 1, tzinfo=UTC),
        datetime(2263, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
        "2262-04-12T00:00:00+00:00",
    ],
)
def test_a_start_outside_the_timestamp_range_names_start(start: object) -> None:
    with pytest.raises(ForecastInputError) as info:
        parse_start(start)
    assert info.value.field == "start" and "outside the supported range" in info.value.message
    assert isinstance(info.value.value, str)  # JSON-friendly


def test_the_range_edges_are_accepted() -> None:
    assert parse_start("2262-04-11T23:00:00Z").year == 2262
    assert parse_start("1677-09-21T01:00:00Z").year == 1677


def test_the_service_answers_an_out_of_range_start_with_a_422(naive_package: Path) -> None:
    svc = _service(naive_package)
    far = datetime(2500, 1, 1, tzinfo=UTC)
    (err,) = svc.forecast_many([ForecastRequest(city_id="syn-000", start=far)])
    assert isinstance(err, ForecastInputError) and http_status(err) == 422 and err.field == "start"
    hist = [{"timestamp": datetime(1500, 1, 1, tzinfo=UTC), "load_mw": 1.0}]
    (err,) = svc.forecast_many([ForecastRequest(city_id="syn-000", history=hist)])  # type: ignore[list-item]
    assert isinstance(err, ForecastInputError) and err.field == "history.0.timestamp"


# ---- item 5: one request's surprise fails only that request ------------------------------------
def test_an_unexpected_error_fails_only_its_own_request(
    naive_package: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A model that raises a non-ValueError for one city: the other requests of the same batch
    (same start and horizon: one shared query) are still answered."""
    real = service_module.forecast

    def flaky(package: Any, query: Any) -> Any:
        if "syn-001" in query.city_ids:
            raise ZeroDivisionError("a bug deep in a model, with /secret/server/path")
        return real(package, query)

    monkeypatch.setattr(service_module, "forecast", flaky)
    svc = _service(naive_package)
    reqs = [ForecastRequest(city_id=c, horizon_hours=6) for c in ("syn-000", "syn-001", "syn-002")]
    with caplog.at_level(logging.ERROR, logger="energy.serve"):
        out = svc.forecast_many(reqs)
    assert [type(r).__name__ for r in out] == [  # answers come rendered (JSON from arrays)
        "RenderedForecast",
        "InternalForecastError",
        "RenderedForecast",
    ]
    err = out[1]
    assert isinstance(err, InternalForecastError) and http_status(err) == 500
    assert "secret" not in str(err) and err.incident in str(err)  # details stay in the log
    assert err.incident in caplog.text and "ZeroDivisionError" in caplog.text


# ---- item 3: limits and the guard --------------------------------------------------------------
def test_batch_limits_name_the_limit_and_the_count() -> None:
    limits = Limits(max_batch_cities=2, max_batch_starts=2)
    check_batch([ForecastRequest(city_id="a"), ForecastRequest(city_id="b")], limits)
    with pytest.raises(LimitError) as info:
        check_batch([ForecastRequest(city_id=c) for c in "abc"], limits)
    body = info.value.body()
    assert info.value.status == 422 and body["field"] == "requests" and body["value"] == 3
    assert body["limit"] == {"name": "max_batch_cities", "value": 2}
    starts = [datetime(2020, 1, 1, h, tzinfo=UTC) for h in range(3)]
    with pytest.raises(LimitError) as info:
        check_batch([ForecastRequest(city_id="a", start=s) for s in starts], limits)
    assert info.value.body()["limit"] == {"name": "max_batch_starts", "value": 2}


def test_admission_refuses_with_429_only_while_others_are_in_progress() -> None:
    gate = Admission()
    with gate.admit(5, limit=3):  # an idle replica admits even a request above the limit
        assert gate.pending == 5
        with pytest.raises(LimitError) as info, gate.admit(1, limit=3, field="request"):
            pass
    err = info.value
    assert err.status == 429 and err.headers["Retry-After"] and err.field == "request"
    assert err.body()["limit"] == {"name": "max_pending_forecasts", "value": 3}
    assert gate.pending == 0  # released, also after the refusal
    with gate.admit(2, limit=3), gate.admit(1, limit=3):
        assert gate.pending == 3


async def _call(guard: RequestGuard, headers: dict[str, str], chunks: list[bytes]) -> dict:
    """One request through ``guard`` (plain ASGI): what the app saw and what was sent."""
    seen: dict[str, Any] = {"body": None}
    app = guard.app

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        msg = await receive()
        seen["body"] = msg.get("body")

        async def again() -> Any:
            return msg

        await app(scope, again, send)

    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
             for i, c in enumerate(chunks)]  # fmt: skip

    async def receive() -> dict:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(msg: Any) -> None:
        sent.append(msg)

    scope = {
        "type": "http", "path": "/api/v1/forecast", "root_path": "/api",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    await RequestGuard(spy, guard.settings)(scope, receive, send)
    status = sent[0]["status"]
    body = json.loads(sent[1]["body"]) if status != 200 else None
    return {"status": status, "body": body, "app_body": seen["body"], "start": sent[0]}


def test_the_guard_refuses_large_bodies_before_the_app_reads_them() -> None:
    cfg = GuardSettings(Limits(max_body_bytes=2048), None)

    def run(headers: dict[str, str], chunks: list[bytes]) -> dict:
        g = RequestGuard(_echo_app, lambda: cfg)
        return asyncio.run(_call(g, headers, chunks))

    declared = run({"content-length": "5000"}, [b"x" * 10])
    assert declared["status"] == 413 and declared["app_body"] is None
    assert declared["body"]["field"] == "body" and declared["body"]["value"] == 5000
    assert declared["body"]["limit"] == {"name": "max_body_bytes", "value": 2048}
    chunked = run({"transfer-encoding": "chunked"}, [b"x" * 1500, b"y" * 1500])
    assert chunked["status"] == 413 and chunked["body"]["value"] == 3000
    ok = run({"content-length": "6"}, [b"ab", b"cdef"])
    assert ok["status"] == 200 and ok["app_body"] == b"abcdef"  # read once, replayed whole


async def _echo_app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_the_guard_asks_for_the_token_except_on_probes(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    cfg = GuardSettings(Limits(), load_token(str(tmp_path / "token")))
    guard = RequestGuard(_echo_app, lambda: cfg)
    none = asyncio.run(_call(guard, {}, [b""]))
    assert none["status"] == 401 and none["body"]["field"] == "authorization"
    assert (b"www-authenticate", b"Bearer") in none["start"]["headers"]
    wrong = asyncio.run(_call(guard, {"authorization": "Bearer nope"}, [b""]))
    assert wrong["status"] == 401
    right = asyncio.run(_call(guard, {"authorization": f"Bearer {TOKEN}"}, [b""]))
    assert right["status"] == 200


def test_tokens_are_required_beyond_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENERGY_SERVE_TOKEN", raising=False)
    assert load_token(None) is None
    require_token_off_loopback("127.0.0.1", None)
    require_token_off_loopback("::1", None)
    for host in ("0.0.0.0", "10.1.2.3", "forecast.example.org"):
        with pytest.raises(AuthConfigError, match="token"):
            require_token_off_loopback(host, None)
    monkeypatch.setenv("ENERGY_SERVE_TOKEN", TOKEN)
    auth = load_token(None)
    assert auth is not None and auth.allows(f"Bearer {TOKEN}") and not auth.allows(TOKEN)
    require_token_off_loopback("0.0.0.0", auth)
    with pytest.raises(AuthConfigError, match="at least 16"):
        monkeypatch.setenv("ENERGY_SERVE_TOKEN", "short")
        load_token(None)
    with pytest.raises(AuthConfigError, match="cannot read"):
        load_token(str(tmp_path / "missing"))


# ---- item 6: a broken champion: backoff, keep the old model, log once --------------------------
def test_a_broken_package_backs_off_keeps_the_old_model_and_logs_once(
    naive_package: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pkg = tmp_path / "served"
    shutil.copytree(naive_package, pkg)
    holder = ModelHolder(ModelSource(package=str(pkg)), backoff_base_s=10, backoff_max_s=35)
    assert holder.refresh(now=0) and holder.failures == 0
    good = holder.ref
    # a new champion whose model cannot be read: package.json changes (new version), model breaks
    (pkg / "model" / "model.json").write_text("{not json")
    meta = json.loads((pkg / "package.json").read_text())
    (pkg / "package.json").write_text(json.dumps({**meta, "trained_at": "later"}))
    with caplog.at_level(logging.DEBUG, logger="energy.serve"):
        assert not holder.refresh(now=100)
        assert holder.ref == good and holder.failures == 1 and holder.retry_in_s == 10
        assert not holder.refresh(now=105)  # inside the backoff: not retried
        assert holder.failures == 1
        waits = []
        for now in (110, 130, 170, 210, 250):
            holder.refresh(now=now)
            waits.append(holder.retry_in_s)
    assert waits == [20, 35, 35, 35, 35] and holder.failures == 6  # doubling, capped
    assert holder.ref == good  # still serving the last good model
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "keeping the current model" in errors[0].getMessage()
    assert holder.public_error and str(pkg.parent) not in holder.public_error  # no server path
    shutil.copytree(naive_package / "model", pkg / "model", dirs_exist_ok=True)  # fixed
    assert holder.refresh(now=300) and holder.failures == 0 and holder.public_error is None


def test_model_info_carries_no_server_paths(naive_package: Path) -> None:
    svc = ModelSource(package=str(naive_package)).load(cache_size=0)
    shown = svc.info.model_dump_json()
    assert str(naive_package.parent) not in shown and svc.info.name == naive_package.name
    assert "path" not in ModelInfo.model_fields
