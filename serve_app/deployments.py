"""The Serve deployment: a FastAPI ingress that holds the model (thin; the work is in service.py).

Why one deployment and not a composition: the model is one global ensemble over all cities (not
one model per city, so ``@serve.multiplexed`` has nothing to pick), and every extra deployment hop
costs about 8 ms at p50 and cuts throughput to a third on 2 cores (``../shared/NOTES.md``: one
deployment 9.4 ms p50, a three-deployment composition 25.7 ms p50 and 39 vs 90 requests/s at
concurrency 8). The ensemble runs its members in-process; replicas of this one deployment scale
together.

Requests: ``POST /v1/forecast`` answers cached forecasts at once; the rest go through
``@serve.batch`` so that concurrent single-city requests share one vectorised model call. Compute
runs in a worker thread, so ``/healthz`` and metrics stay responsive under load.

Errors: the forecast path raises typed :class:`energy.forecast.ForecastError` s (field + value);
one handler here answers them with the status :func:`serve_app.service.http_status` gives
(404 / 422 / 503). Pydantic's own request errors are 422 naming the field, as before. Limits
and the optional token (:mod:`serve_app.limits`, :mod:`serve_app.auth`) answer 401 / 413 / 422 /
429 / 503 naming the limit; a surprise is a 500 with an incident id, its details only in the
replica's log. One request's surprise inside an ``@serve.batch`` batch fails that request only.

Hot reload: a daemon thread polls the source (registry alias or package directory) every
``poll_s`` seconds; ``reconfigure`` (the deployment's ``user_config``) changes the settings or the
source without restarting replicas. See :class:`serve_app.loader.ModelHolder` for the swap.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations as objects, and
# Serve ships this class by value, so string annotations could not be resolved in the replica.
import asyncio
import logging
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from ray import serve
from ray.serve import metrics
from starlette.exceptions import HTTPException as StarletteHTTPException

from energy.forecast.errors import ForecastError, ModelUnavailableError
from energy.schema import SchemaError
from serve_app.auth import DEFAULT_TOKEN_ENV, load_token, require_token_off_loopback
from serve_app.limits import (
    Admission,
    GuardSettings,
    LimitError,
    Limits,
    RequestGuard,
    check_batch,
    timeout_error,
)
from serve_app.loader import ModelHolder, ModelSource
from serve_app.monitoring import ReplicaMonitor, StoreUnavailable
from serve_app.schemas import (
    ActualsRequest,
    ActualsResponse,
    BatchForecastRequest,
    BatchForecastResponse,
    CitiesResponse,
    ErrorBody,
    ForecastRequest,
    ForecastResponse,
    Health,
    ModelInfo,
)
from serve_app.service import ForecastService, InternalForecastError, RenderedForecast, http_status

log = logging.getLogger("energy.serve")
DEFAULT_SETTINGS: dict[str, Any] = {
    "poll_s": 10.0,  # registry / package check for a new champion
    "cache_size": 4096,  # memoised forecasts without supplied weather or history; 0 = off
    "max_batch_size": 16,
    "batch_wait_timeout_s": 0.02,
    "backoff_max_s": 300.0,  # longest wait between retries of a champion that fails to load
    **Limits().model_dump(),  # max_body_bytes, max_batch_*, max_pending_forecasts, timeout
    "monitor": True,  # log served forecasts; /v1/actuals and /v1/monitor/summary
    "monitor_db": None,  # the monitoring store's URL; None: ENERGY_MONITOR_DB or the state folder
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or wrong bearer token (when one is set)"},
    404: {"model": ErrorBody, "description": "unknown city"},
    413: {"model": ErrorBody, "description": "body over max_body_bytes"},
    422: {"model": ErrorBody, "description": "invalid field (named, with the value sent)"},
    429: {"model": ErrorBody, "description": "replica busy past max_pending_forecasts"},
    500: {"model": ErrorBody, "description": "a bug: an incident id, details in the server log"},
    503: {"model": ErrorBody, "description": "no model loaded yet, or request_timeout_s passed"},
}

api = FastAPI(
    title="energy forecast API",
    version="1",
    description="Hourly load forecasts (MW) for every city of the served model. Times are ISO "
    "8601 with an offset; responses are in UTC.",
)


def _error(status: int, message: str, field: str | None = None, value: Any = None) -> JSONResponse:
    body = ErrorBody(error=message, field=field, value=value)
    return JSONResponse(jsonable_encoder(body), status_code=status)


@api.exception_handler(RequestValidationError)
async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    """Pydantic errors → 422 naming the first bad field (``requests.3.start``) and its value."""
    errs = exc.errors()
    first = errs[0] if errs else {}
    loc = [str(x) for x in first.get("loc", ()) if x != "body"]
    field = ".".join(loc) or None
    value = first.get("input")
    if first.get("type") == "json_invalid":  # loc is a character offset, not a field
        field, value = "body", None
    shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
    msg = f"{field or 'body'}: {str(first.get('msg', 'invalid')).removeprefix('Value error, ')}"
    more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return _error(422, msg + shown + more, field, value if not isinstance(value, bytes) else None)


@api.exception_handler(StarletteHTTPException)
async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own refusals (a body that is not UTF-8, an unknown path or method) in the
    same shape as every other error."""
    field = {400: "body", 404: "path", 405: "method"}.get(exc.status_code, "request")
    body = ErrorBody(error=f"{field}: {exc.detail}", field=field)
    return JSONResponse(jsonable_encoder(body), exc.status_code, headers=exc.headers)


@api.exception_handler(ForecastError)
async def _forecast_error(_: Request, exc: ForecastError) -> JSONResponse:
    status = http_status(exc)
    # a 503's value could be a server path (a package being rewritten): never sent
    return _error(status, str(exc), exc.field, exc.value if status < 500 else None)


@api.exception_handler(LimitError)
async def _limit_error(_: Request, exc: LimitError) -> JSONResponse:
    return JSONResponse(jsonable_encoder(exc.body()), exc.status, headers=exc.headers)


@api.exception_handler(Exception)
async def _surprise(_: Request, exc: Exception) -> JSONResponse:
    """Anything unexpected: a 500 with an incident id; the details stay in the replica's log."""
    err = InternalForecastError.logged(exc, "request")
    return _error(500, str(err))


def _replica_guard() -> GuardSettings | None:
    """The limits and token of the replica serving this request (its ``reconfigure`` may change
    them); None outside a replica."""
    try:
        deployment = serve.get_replica_context().servable_object
    except Exception:
        return None
    return getattr(deployment, "guard", None)


# applied before FastAPI reads the body: a refused request is never parsed
api.add_middleware(RequestGuard, settings=_replica_guard)


def _version(ref: Any) -> str | None:
    return getattr(ref, "version", None)


class _Metrics:
    """Forecast-specific Prometheus metrics (Serve adds its own per-route request metrics)."""

    def __init__(self) -> None:
        self.requests = metrics.Counter(
            "energy_forecast_requests",
            "Forecast API requests",
            tag_keys=("endpoint", "status"),  # type: ignore[arg-type]
        )
        self.latency = metrics.Histogram(
            "energy_forecast_latency_ms", "Time in the replica per forecast request (ms)",
            boundaries=[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000], tag_keys=("endpoint",),
        )  # fmt: skip
        self.cache = metrics.Counter(
            "energy_forecast_cache", "Forecast cache look-ups", tag_keys=("result",)
        )
        self.batch = metrics.Histogram(
            "energy_forecast_batch_size", "Requests per @serve.batch call",
            boundaries=[1, 2, 4, 8, 16, 32],
        )  # fmt: skip
        self.reloads = metrics.Counter("energy_model_reloads", "Champion switches seen")
        # the alert: 1 while the source's current model fails to load (the replica keeps
        # serving its last good one); the counter counts every failed attempt
        self.load_failing = metrics.Gauge(
            "energy_model_load_failing", "1 while loading the current champion fails"
        )
        self.load_failures = metrics.Counter(
            "energy_model_load_failures", "Failed attempts to load the champion"
        )

    def observe(self, endpoint: str, status: int, t0: float) -> None:
        self.requests.inc(tags={"endpoint": endpoint, "status": str(status)})
        self.latency.observe((time.perf_counter() - t0) * 1000, tags={"endpoint": endpoint})


def _proxy_host() -> str:
    """The address Serve's HTTP proxy listens on (asked of the controller; 127.0.0.1 when it
    cannot be asked, e.g. outside a cluster)."""
    try:
        import ray
        from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

        controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        config: Any = ray.get(controller.get_http_config.remote(), timeout=30)
        return str(config.host)
    except Exception:
        log.warning("serve: could not ask the controller for the HTTP host", exc_info=True)
        return "127.0.0.1"


# Serve pickles the class when it is decorated: everything it uses must be defined above.
@serve.deployment(name="forecast", max_ongoing_requests=32, health_check_period_s=5)
@serve.ingress(api)
class ForecastDeployment:
    """One replica: the current model, its poller and the HTTP routes."""

    def __init__(
        self,
        source: dict[str, Any],
        settings: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> None:
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        auth = auth or {}
        self.auth = load_token(auth.get("token_file"), auth.get("token_env", DEFAULT_TOKEN_ENV))
        require_token_off_loopback(_proxy_host(), self.auth)  # refuse to start open on a network
        self.guard = GuardSettings(Limits.model_validate(self.settings), self.auth)
        self.admission = Admission()
        self.holder = ModelHolder(
            ModelSource.from_dict(source),
            cache_size=int(self.settings["cache_size"]),
            backoff_base_s=float(self.settings["poll_s"]),
            backoff_max_s=float(self.settings["backoff_max_s"]),
        )
        self._m = _Metrics()
        self._m.load_failing.set(0)
        self._mon = (
            ReplicaMonitor(self.settings["monitor_db"]) if self.settings["monitor"] else None
        )
        self._refresh()  # the replica starts with the model when there is one
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="model-poller", daemon=True)
        self._poller.start()

    # ---- lifecycle ----------------------------------------------------------------------------
    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """``user_config``: any of :data:`DEFAULT_SETTINGS`, and ``source`` to switch models."""
        self.settings.update({k: v for k, v in user_config.items() if k != "source"})
        self.guard = GuardSettings(Limits.model_validate(self.settings), self.auth)
        self.holder.set_cache_size(int(self.settings["cache_size"]))
        self.holder.backoff_base_s = float(self.settings["poll_s"])
        self.holder.backoff_max_s = float(self.settings["backoff_max_s"])
        self._batched.set_max_batch_size(  # type: ignore[attr-defined]
            int(self.settings["max_batch_size"])
        )
        self._batched.set_batch_wait_timeout_s(  # type: ignore[attr-defined]
            float(self.settings["batch_wait_timeout_s"])
        )
        if "source" in user_config:
            self.holder.source = ModelSource.from_dict(user_config["source"])
            self._refresh()

    def check_health(self) -> None:
        """Serve restarts the replica when this raises: only for a dead poller (a missing model
        is not fixed by a restart; /readyz reports it)."""
        if not self._poller.is_alive():
            raise RuntimeError("model poller thread died")

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
        holder = getattr(self, "holder", None)
        if holder is not None:
            holder.close()
        mon = getattr(self, "_mon", None)
        if mon is not None:
            mon.close()

    def _poll(self) -> None:
        while not self._stop.wait(float(self.settings["poll_s"])):
            try:
                self._refresh()
            except Exception:  # never let the poller die on a surprise; log and go on
                log.exception("serve: model poll failed")

    def _refresh(self) -> None:
        """One check of the source; the metrics follow (the holder logs once per streak)."""
        before = self.holder.failures
        if self.holder.refresh():
            self._m.reloads.inc()
        if self.holder.failures > before:
            self._m.load_failures.inc()
        self._m.load_failing.set(1 if self.holder.failures else 0)

    def _service(self) -> ForecastService:
        svc = self.holder.service
        if svc is None:  # the body says why in general terms; the log has the details
            why = self.holder.public_error or "loading"
            raise ModelUnavailableError(
                f"no model loaded from {self.holder.source.public_name()} ({why})"
            )
        return svc

    async def _timed(self, work: Any) -> Any:
        """``await work`` within ``request_timeout_s`` (503 naming the limit after)."""
        try:
            return await asyncio.wait_for(work, self.guard.limits.request_timeout_s)
        except TimeoutError:
            raise timeout_error(self.guard.limits) from None

    # ---- routes -------------------------------------------------------------------------------
    @api.post("/v1/forecast", response_model=ForecastResponse, responses=_ERRORS)
    async def forecast(self, req: ForecastRequest) -> Any:
        """Hourly forecast for one city (``members``: each ensemble member's value too)."""
        t0 = time.perf_counter()
        status = 200
        try:
            svc = self._service()
            hit = svc.cached(req)
            if hit is not None:
                out: RenderedForecast | ForecastError = hit
            else:
                limit = self.guard.limits.max_pending_forecasts
                with self.admission.admit(1, limit, "request"):
                    out = await self._timed(self._batched(req))
            self._m.cache.inc(tags={"result": "hit" if hit is not None else "miss"})
            if isinstance(out, ForecastError):
                raise out
            if self._mon is not None:
                self._mon.log_forecast(out, req)  # queued; records built off the request path
            return Response(out.body, media_type="application/json")  # rendered from arrays
        except ForecastError as e:
            status = http_status(e)
            raise
        except LimitError as e:
            status = e.status
            raise
        finally:
            self._m.observe("forecast", status, t0)
            if self._mon is not None:
                self._mon.observe("forecast", status, t0, _version(self.holder.ref))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.02)
    async def _batched(self, reqs: list[ForecastRequest]) -> list[RenderedForecast | ForecastError]:
        """Each request gets its own answer or error: whatever fails, fails one request only
        (an exception raised here would fail every request of the batch)."""
        svc = self._service()
        self._m.batch.observe(len(reqs))
        try:
            return await asyncio.to_thread(svc.forecast_many, reqs)
        except Exception as e:  # forecast_many isolates requests itself; this is the backstop
            err = InternalForecastError.logged(e, f"a batch of {len(reqs)}")
            return [err] * len(reqs)

    @api.post("/v1/forecast/batch", response_model=BatchForecastResponse, responses=_ERRORS)
    async def forecast_batch(self, body: BatchForecastRequest) -> Any:
        """Many forecasts in one request; any bad entry fails the call, named ``requests[i]``."""
        t0 = time.perf_counter()
        status = 200
        try:
            check_batch(body.requests, self.guard.limits)
            svc = self._service()
            limit = self.guard.limits.max_pending_forecasts
            with self.admission.admit(len(body.requests), limit):
                rendered = await self._timed(
                    asyncio.to_thread(svc.forecast_batch_rendered, body.requests)
                )
            if self._mon is not None:
                for req, r in zip(body.requests, rendered, strict=True):
                    self._mon.log_forecast(r, req)
            return Response(svc.batch_json(rendered), media_type="application/json")
        except ForecastError as e:
            status = http_status(e)
            raise
        except LimitError as e:
            status = e.status
            raise
        finally:
            self._m.observe("batch", status, t0)
            if self._mon is not None:
                self._mon.observe("batch", status, t0, _version(self.holder.ref))

    @api.get("/v1/cities", response_model=CitiesResponse, responses=_ERRORS)
    async def cities(self) -> CitiesResponse:
        """Cities the served model forecasts, with their default forecast start."""
        return self._service().cities()

    @api.get("/v1/model", response_model=ModelInfo, responses=_ERRORS)
    async def model(self) -> ModelInfo:
        """The served model: name, version, trained-at, data hash, backtest metrics (no paths)."""
        return self._service().info

    @api.get("/healthz", response_model=Health)
    async def healthz(self) -> Health:
        """Liveness: the replica answers (with or without a model)."""
        return Health(status="ok", model=self.holder.ref)

    @api.get("/readyz", response_model=Health, responses={503: {"model": Health}})
    async def readyz(self) -> Any:
        """Readiness: 200 once a model is loaded, 503 before."""
        if self.holder.service is None:
            body = Health(status="loading", detail=self.holder.public_error)
            return JSONResponse(jsonable_encoder(body), status_code=503)
        return Health(status="ok", model=self.holder.ref)

    # ---- monitoring ---------------------------------------------------------------------------
    @api.post("/v1/actuals", response_model=ActualsResponse, responses=_ERRORS)
    async def actuals(self, body: ActualsRequest) -> Any:
        """Observed load (late or revised hours upsert), validated like `energy actuals ingest`."""
        if self._mon is None:
            return _error(404, "monitoring is off on this deployment (settings.monitor)")
        rows = [a.model_dump() for a in body.actuals]
        try:
            got = await asyncio.to_thread(self._mon.ingest_actuals, rows)
        except SchemaError as e:
            return _error(422, f"actuals: {e}", "actuals")
        except StoreUnavailable as e:
            return _error(503, str(e))
        return ActualsResponse(**got)

    @api.get("/v1/monitor/summary", responses=_ERRORS)
    async def monitor_summary(self, since: str = "7d") -> Any:
        """Served and scored hours, accuracy by city / version / horizon, drift, events."""
        if self._mon is None:
            return _error(404, "monitoring is off on this deployment (settings.monitor)")
        try:
            return await asyncio.to_thread(self._mon.summary, since)
        except StoreUnavailable as e:
            return _error(503, str(e))
        except ValueError as e:
            return _error(422, str(e).removeprefix("--"), "since", since)
