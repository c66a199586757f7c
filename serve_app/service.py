"""Forecast requests → :func:`energy.forecast.forecast` → responses, in plain Python (no Ray).

The Serve deployment is a thin shell around :class:`ForecastService`; tests call it directly. A
request becomes a :class:`~energy.forecast.ForecastQuery` here (the edge), and every refusal is a
typed :class:`~energy.forecast.ForecastError` carrying the field and the value; :func:`http_status`
is the one place that maps them to 404/422/503.

Requests that share ``start``, ``horizon_hours`` and ``members`` are answered by one vectorised
query (the batch endpoint and ``@serve.batch`` both rely on it). A forecast without
caller-supplied weather or history depends only on (model version, city, start, horizon), so it is
memoised in a small LRU per loaded model (:class:`ForecastCache`); a new model brings a new, empty
cache.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from energy.forecast import (
    ForecastError,
    ForecastInputError,
    ForecastQuery,
    ModelPackage,
    ModelUnavailableError,
    UnknownCityError,
    forecast,
    parse_start,
)
from energy.forecast.query import EARLIEST_START, LATEST_START
from serve_app.schemas import (
    BatchForecastResponse,
    CitiesResponse,
    City,
    ForecastRequest,
    ForecastResponse,
    ModelInfo,
    ModelRef,
)

HOUR = pd.Timedelta(hours=1)
log = logging.getLogger("energy.serve")


class InternalForecastError(ForecastError):
    """An unexpected failure while answering one request (a bug, not the caller's fault): 500.

    The message is generic and carries an incident id; the exception itself is logged here, on
    the server, with the same id (raw exception text never reaches the client).
    """

    def __init__(self, incident: str) -> None:
        super().__init__(None, None, f"internal error while forecasting (incident {incident})")
        self.incident = incident
        self.args = (incident,)  # so that a pickled copy (Ray) rebuilds with this signature

    def located(self, prefix: str) -> InternalForecastError:
        return self

    @classmethod
    def logged(cls, exc: BaseException, what: str) -> InternalForecastError:
        """Log ``exc`` (with its traceback) under a new incident id and return the error."""
        incident = uuid.uuid4().hex[:12]
        log.error("serve: incident %s: %s failed", incident, what, exc_info=exc)
        return cls(incident)


@dataclass(frozen=True)
class RenderedForecast:
    """One city's answer, already serialised: the JSON body of a :class:`ForecastResponse`.

    Responses are written straight from the forecast arrays with orjson (a 100-city batch would
    otherwise build and validate ~2,400 pydantic point objects, then serialise them); the memo
    keeps the bytes, so a cached answer is sent as it is. :meth:`response` parses it back for
    plain-Python callers.
    """

    city_id: str
    start: pd.Timestamp
    horizon_hours: int
    body: bytes

    def response(self) -> ForecastResponse:
        """The body as a :class:`ForecastResponse`."""
        return ForecastResponse.model_validate_json(self.body)


def render(
    city_id: str,
    model: ModelRef,
    timestamps: np.ndarray,
    yhat: np.ndarray,
    source: str,
    members: dict[str, np.ndarray] | None = None,
) -> bytes:
    """A :class:`ForecastResponse` JSON body from arrays (the schema's field order and formats).

    Args:
        timestamps: ``(horizon,)`` datetime64 UTC hours.
        yhat: ``(horizon,)`` forecasts, MW.
        source: the weather source.
        members: member name → ``(horizon,)`` forecasts in MW, or None (``members: null``).
    """
    iso = [t + "Z" for t in np.datetime_as_string(timestamps.astype("datetime64[s]")).tolist()]
    values = yhat.tolist()
    if members is None:
        points = [
            {"timestamp": t, "forecast_mw": v, "members": None}
            for t, v in zip(iso, values, strict=True)
        ]
    else:
        names, cols = list(members), [members[m].tolist() for m in members]
        points = [
            {"timestamp": t, "forecast_mw": v, "members": dict(zip(names, mv, strict=True))}
            for t, v, *mv in zip(iso, values, *cols, strict=True)
        ]
    body = {
        "city_id": city_id,
        "start": iso[0],
        "horizon_hours": len(iso),
        "weather_source": source,
        "model": {"name": model.name, "version": model.version},
        "points": points,
    }
    return orjson.dumps(body)


def batch_body(model: ModelRef, answers: Sequence[RenderedForecast]) -> bytes:
    """A :class:`BatchForecastResponse` JSON body from rendered answers (no re-serialising)."""
    head = orjson.dumps({"name": model.name, "version": model.version})
    return b'{"model":' + head + b',"forecasts":[' + b",".join(a.body for a in answers) + b"]}"


def http_status(exc: ForecastError) -> int:
    """The one mapping of forecast errors to HTTP (used by ``deployments.py``): unknown city
    404, a value the model cannot answer 422, no model to answer with 503."""
    if isinstance(exc, UnknownCityError):
        return 404
    if isinstance(exc, ModelUnavailableError):
        return 503
    if isinstance(exc, ForecastInputError):
        return 422
    return 500  # InternalForecastError, or a subclass nobody mapped: a bug, say so


class ForecastCache:
    """Thread-safe LRU of responses keyed by (city, start, horizon, members); 0 = off."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._items: OrderedDict[tuple[Any, ...], RenderedForecast] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> RenderedForecast | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: tuple[Any, ...], value: RenderedForecast) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def resize(self, size: int) -> None:
        with self._lock:
            self.size = size
            while len(self._items) > max(size, 0):
                self._items.popitem(last=False)


class ForecastService:
    """Answers the API from one loaded model package (safe to call from many threads)."""

    def __init__(self, package: ModelPackage, info: ModelInfo, *, cache_size: int = 4096) -> None:
        self.package = package
        self.info = info
        self.ref = ModelRef(name=info.name, version=info.version)
        self.cache = ForecastCache(cache_size)
        self.owned_dir: str | None = None  # a registry download this service may delete
        threads = os.environ.get("OMP_NUM_THREADS", "")  # Ray sets it to the replica's CPUs
        if threads.isdigit():
            package.set_threads(int(threads))

    # ---- public -------------------------------------------------------------------------------
    def forecast(self, req: ForecastRequest) -> ForecastResponse:
        """One forecast; raises :class:`~energy.forecast.ForecastError`."""
        out = self.forecast_many([req])[0]
        if isinstance(out, ForecastError):
            raise out
        return out.response()

    def cached(self, req: ForecastRequest) -> RenderedForecast | None:
        """The memoised answer to ``req`` if there is one (never computes)."""
        try:
            key = self._key(req, self._start(req))
        except Exception:  # computing will answer it (an error of its own, isolated)
            return None
        return self.cache.get(key) if key is not None else None

    def forecast_batch(self, reqs: Sequence[ForecastRequest]) -> BatchForecastResponse:
        """All forecasts of a batch request, or the first error located as ``requests[i]...``."""
        return BatchForecastResponse.model_validate_json(self.forecast_batch_json(reqs))

    def forecast_batch_json(self, reqs: Sequence[ForecastRequest]) -> bytes:
        """:meth:`forecast_batch` as its JSON body (what the HTTP route sends)."""
        return self.batch_json(self.forecast_batch_rendered(reqs))

    def forecast_batch_rendered(self, reqs: Sequence[ForecastRequest]) -> list[RenderedForecast]:
        """Every forecast of a batch request, rendered; the first error located as
        ``requests[i]...`` is raised (a bad entry fails the call)."""
        results = self.forecast_many(reqs)
        for i, r in enumerate(results):
            if isinstance(r, ForecastError):
                raise r.located(f"requests[{i}]")
        return results  # type: ignore[return-value]

    def batch_json(self, rendered: Sequence[RenderedForecast]) -> bytes:
        """The JSON body of a batch response made of ``rendered`` answers."""
        return batch_body(self.ref, list(rendered))

    def forecast_many(
        self, reqs: Sequence[ForecastRequest]
    ) -> list[RenderedForecast | ForecastError]:
        """Independent requests → a response or an error each (one bad request fails only
        itself). Requests with the same start, horizon and members share one query, and
        identical requests (without weather or history) are computed once."""
        results: list[RenderedForecast | ForecastError | None] = [None] * len(reqs)
        groups: dict[tuple[Any, ...], list[tuple[list[int], set[str]]]] = {}
        first: dict[tuple[Any, ...], int] = {}  # identical cacheable requests are computed once
        copies: list[tuple[int, int]] = []
        for i, req in enumerate(reqs):
            try:
                start = self._start(req)
                key = self._key(req, start)
            except ForecastError as e:
                results[i] = e
                continue
            except Exception as e:  # one request's surprise must never fail the others
                results[i] = InternalForecastError.logged(e, f"request {i} ({req.city_id!r})")
                continue
            if key is not None:
                if (hit := self.cache.get(key)) is not None:
                    results[i] = hit
                    continue
                if key in first:
                    copies.append((i, first[key]))
                    continue
                first[key] = i
            # a city twice in one query would mix its weather/history: new sub-group
            subs = groups.setdefault((start, req.horizon_hours, req.members), [([], set())])
            if req.city_id in subs[-1][1]:
                subs.append(([], set()))
            subs[-1][0].append(i)
            subs[-1][1].add(req.city_id)
        for (start, horizon, members), subs in groups.items():
            for idx, _ in subs:
                try:
                    self._run_group(reqs, idx, start, horizon, members, results)
                except Exception as e:  # answering (not computing) failed: these requests only
                    for i in idx:
                        if results[i] is None:
                            results[i] = InternalForecastError.logged(e, f"request {i}")
        for i, j in copies:
            results[i] = results[j]
        return results  # type: ignore[return-value]

    def cities(self) -> CitiesResponse:
        table = self.package.history.cities.set_index("city_id")
        out = []
        for c in self.package.cities:
            row = table.loc[c] if c in table.index else None
            out.append(
                City(
                    city_id=c,
                    name=_opt(row, "name"),
                    country=_opt(row, "country"),
                    timezone=self.package.timezones[c],
                    last_load=self.package.last_load_time(c),
                    next_start=self.package.next_start(c),
                )
            )
        return CitiesResponse(model=self.ref, cities=out)

    def warm(self) -> None:
        """Answer every city's default 24 h forecast once: primes the cache and the first-call
        costs (torch, xgboost) before the replica reports ready."""
        horizon = min(24, self.package.max_horizon)
        reqs = [ForecastRequest(city_id=c, horizon_hours=horizon) for c in self.package.cities]
        self.forecast_many(reqs)

    # ---- internals ----------------------------------------------------------------------------
    def _start(self, req: ForecastRequest) -> pd.Timestamp | None:
        """The request's start (UTC hour); its city's default start when it sends no history;
        None when the forecast path finds it (the hour after the history sent)."""
        self.package.check_city(req.city_id)
        if req.start is not None:
            return parse_start(req.start)
        return None if req.history else self.package.next_start(req.city_id)

    def _key(self, req: ForecastRequest, start: pd.Timestamp | None) -> tuple[Any, ...] | None:
        if req.weather or req.history or start is None:
            return None
        return (req.city_id, start.value, req.horizon_hours, req.members)

    def _run_group(
        self,
        reqs: Sequence[ForecastRequest],
        idx: list[int],
        start: pd.Timestamp | None,
        horizon: int,
        members: bool,
        results: list[Any],
    ) -> None:
        cities = [reqs[i].city_id for i in idx]
        try:
            query = ForecastQuery(
                tuple(cities), start=start, horizon_hours=horizon, members=members,
                weather=_frame([reqs[i] for i in idx], "weather"),
                history=_frame([reqs[i] for i in idx], "history"),
            )  # fmt: skip
            frame = forecast(self.package, query)
        except Exception as e:
            if len(idx) > 1:  # find the culprit: each request on its own
                for i in idx:
                    self._run_group(reqs, [i], start, horizon, members, results)
                return
            results[idx[0]] = _own_error(e, idx[0], reqs[idx[0]])
            return
        ts = pd.DatetimeIndex(frame["timestamp"]).tz_convert("UTC").tz_localize(None)
        ts64 = ts.to_numpy("datetime64[s]")
        yhat = frame["yhat"].to_numpy(np.float64)
        src = frame["weather_source"].to_numpy()
        cols = [c for c in frame.columns if c.startswith("yhat_")] if members else []
        mem = {c.removeprefix("yhat_"): frame[c].to_numpy(np.float64) for c in cols}
        for k, i in enumerate(idx):  # rows come per city in request order, `horizon` each
            rows = slice(k * horizon, (k + 1) * horizon)
            body = render(
                cities[k], self.ref, ts64[rows], yhat[rows], str(src[rows.start]),
                {m: v[rows] for m, v in mem.items()} if members else None,
            )  # fmt: skip
            resp = RenderedForecast(
                cities[k], pd.Timestamp(ts64[rows.start], tz="UTC"), horizon, body
            )
            results[i] = resp
            key = self._key(reqs[i], start)
            if key is not None:
                self.cache.put(key, resp)


def _own_error(exc: Exception, i: int, req: ForecastRequest) -> ForecastError:
    """What one request's failure answers: typed errors as they are; a model's own refusal
    (a plain ValueError) is still the request's fault (422); anything else is a logged 500."""
    if isinstance(exc, ForecastError):
        return exc
    if type(exc) is ValueError:
        log.info("serve: request %d (%r) refused by the model: %s", i, req.city_id, exc)
        return ForecastInputError(None, None, " ".join(str(exc).split()))
    return InternalForecastError.logged(exc, f"request {i} ({req.city_id!r})")


def _frame(reqs: list[ForecastRequest], what: str) -> pd.DataFrame | None:
    """The requests' ``weather`` or ``history`` points as one canonical table (UTC), or None.

    Raises:
        ForecastInputError: a timestamp outside pandas' range, named ``<what>.<j>.timestamp``.
    """
    rows: list[dict[str, Any]] = []
    for req in reqs:
        for j, p in enumerate(getattr(req, what) or ()):
            d = p.model_dump(exclude_none=True)
            d["timestamp"] = _utc_hour(d["timestamp"], f"{what}.{j}.timestamp")
            rows.append({"city_id": req.city_id, **d})
    if not rows:
        return None
    return pd.DataFrame(rows)


def _utc_hour(value: Any, field: str) -> pd.Timestamp:
    """A sent weather/history time → UTC (ns), or an error naming ``field`` outside the range."""
    try:
        t = pd.Timestamp(value).tz_convert("UTC")
        if EARLIEST_START <= t <= LATEST_START:
            return t.as_unit("ns")
    except (ValueError, OverflowError, RuntimeError):
        pass
    shown = value.isoformat() if hasattr(value, "isoformat") else str(value)
    raise ForecastInputError(
        field,
        shown,
        f"{shown} is outside the supported range {EARLIEST_START.isoformat()} .. "
        f"{LATEST_START.isoformat()}",
    )


def _opt(row: pd.Series | None, col: str) -> str | None:
    if row is None or col not in row.index:
        return None
    v = row[col]
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or v == "" else str(v)
