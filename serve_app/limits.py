"""Request limits of the forecast API, and the ASGI guard that applies them before parsing. No Ray.

What a caller can make one replica do is bounded by:

* ``max_body_bytes``: the request body, checked from ``Content-Length`` and while reading, before
  any JSON is parsed → 413.
* ``max_batch_cities`` / ``max_batch_starts``: distinct cities and distinct ``start`` values in
  one ``/v1/forecast/batch`` call (each distinct start is one more model run) → 422 naming
  ``requests``: they are limits on a field.
* ``max_pending_forecasts``: forecasts (batch entries) computing or waiting in one replica at
  once; a request that would pass it while others run → 429 with ``Retry-After`` (an idle
  replica always admits one request, so a large valid batch is never refused for its size alone).
* ``request_timeout_s``: the time a forecast may take in the replica → 503 with ``Retry-After``
  (the Serve proxy's own ``http_options.request_timeout_s`` is the outer bound: set it higher).
* an optional bearer token (:mod:`serve_app.auth`) → 401.

Every refusal is an :class:`ErrorBody`-shaped JSON body naming the field, the value sent and the
limit (``{"name": "max_body_bytes", "value": 2097152}``). The settings are part of the
deployment's ``user_config``, so ``serve deploy`` changes them without restarting replicas.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from serve_app.auth import OPEN_PATHS, TokenAuth
from serve_app.schemas import ForecastRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Limits(BaseModel):
    """The limits of one replica (fields of ``ServeOptions`` and of ``user_config``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    max_body_bytes: int = Field(
        default=2 * 1024**2, ge=1024, description="largest request body, bytes (413 above)"
    )
    max_batch_cities: int = Field(
        default=500, ge=1, description="distinct cities in one batch request (422 above)"
    )
    max_batch_starts: int = Field(
        default=24, ge=1, description="distinct starts in one batch request (422 above)"
    )
    max_pending_forecasts: int = Field(
        default=1000, ge=1, description="forecasts in progress per replica (429 above)"
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, description="seconds a forecast may take in the replica (503 after)"
    )


class LimitError(Exception):
    """A request refused by a limit or by authentication; :meth:`body` gives its JSON.

    Attributes:
        status: the HTTP status (401, 413, 422, 503).
        field: what the refusal is about (``authorization``, ``body``, ``requests``, ...).
        value: what was sent (a size, a count), or None.
        message: what is wrong and what to do, without the field prefix.
        limit: the setting that refused it and its value, when one did.
        headers: extra response headers (``WWW-Authenticate``, ``Retry-After``).
    """

    def __init__(
        self,
        status: int,
        field: str,
        value: Any,
        message: str,
        limit: tuple[str, float] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, field, value, message)
        self.status, self.field, self.value, self.message = status, field, value, message
        self.limit, self.headers = limit, dict(headers or {})

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def body(self) -> dict[str, Any]:
        """The :class:`~serve_app.schemas.ErrorBody` of this refusal."""
        lim = {"name": self.limit[0], "value": self.limit[1]} if self.limit else None
        return {"error": str(self), "field": self.field, "value": self.value, "limit": lim}


def check_batch(reqs: Sequence[ForecastRequest], limits: Limits) -> None:
    """Refuse a batch with more distinct cities or starts than the limits allow.

    Raises:
        LimitError: 422 naming ``requests``, with the count sent and the limit.
    """
    cities = len({r.city_id for r in reqs})
    if cities > limits.max_batch_cities:
        n = limits.max_batch_cities
        raise LimitError(
            422, "requests", cities,
            f"{cities} distinct cities in one batch; at most {n} (max_batch_cities): split it",
            ("max_batch_cities", n),
        )  # fmt: skip
    starts = len({r.start for r in reqs})
    if starts > limits.max_batch_starts:
        n = limits.max_batch_starts
        raise LimitError(
            422, "requests", starts,
            f"{starts} distinct start times in one batch; at most {n} (max_batch_starts): "
            "each is a separate model run, split it",
            ("max_batch_starts", n),
        )  # fmt: skip


class Admission:
    """Counts the forecasts a replica has admitted and not yet answered (``max_pending_forecasts``).

    Cached answers never enter; a batch counts its entries. Thread-safe.
    """

    def __init__(self) -> None:
        self.pending = 0
        self._lock = threading.Lock()

    @contextmanager
    def admit(self, n: int, limit: int, field: str = "requests") -> Iterator[None]:
        """Hold ``n`` forecasts for the ``with`` block.

        Raises:
            LimitError: 429 when others are in progress and ``n`` more would pass ``limit``.
        """
        with self._lock:
            busy = self.pending
            if busy and busy + n > limit:
                raise LimitError(
                    429, field, n,
                    f"{busy} forecasts are in progress in this replica and {n} more would pass "
                    f"max_pending_forecasts ({limit}); retry in a moment",
                    ("max_pending_forecasts", limit), {"Retry-After": "1"},
                )  # fmt: skip
            self.pending += n
        try:
            yield
        finally:
            with self._lock:
                self.pending -= n


def timeout_error(limits: Limits) -> LimitError:
    """The refusal of a forecast that ran past ``request_timeout_s``."""
    t = limits.request_timeout_s
    return LimitError(
        503, "request_timeout_s", t,
        f"the forecast took longer than {t:g} s; retry later or ask for less",
        ("request_timeout_s", t), {"Retry-After": "5"},
    )  # fmt: skip


@dataclass(frozen=True)
class GuardSettings:
    """What :class:`RequestGuard` enforces: the limits and the token (None: no auth)."""

    limits: Limits
    auth: TokenAuth | None


class RequestGuard:
    """ASGI middleware: token, then body size, before the app reads or parses anything.

    Args:
        app: the wrapped ASGI app (FastAPI).
        settings: returns the current settings, per request (the replica's, which
            ``reconfigure`` may change); None lets every request through.
    """

    def __init__(self, app: ASGIApp, settings: Callable[[], GuardSettings | None]) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cfg = self.settings() if scope["type"] == "http" else None
        if cfg is None:
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        rel = path[len(root) :] if root and path.startswith(root) else path
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            auth = cfg.auth
            if (
                auth is not None
                and rel not in OPEN_PATHS
                and not auth.allows(headers.get("authorization"))
            ):
                raise LimitError(
                    401, "authorization", None,
                    "a valid bearer token is required (header `Authorization: Bearer <token>`)",
                    None, {"WWW-Authenticate": "Bearer"},
                )  # fmt: skip
            body = await _read_body(receive, headers, cfg.limits.max_body_bytes)
        except LimitError as e:
            await send_error(send, e)
            return
        if body is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes | None:
    """The whole body (at most ``limit`` bytes), or None when the request declares none."""
    declared = headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            size = -1
        if size > limit:
            raise _too_large(size, limit)
        if size == 0:
            return None
    elif "transfer-encoding" not in headers:
        return None
    chunks: list[bytes] = []
    got = 0
    while True:
        msg = await receive()
        if msg["type"] != "http.request":  # the client went away: let the app see it
            return b"".join(chunks)
        part = msg.get("body", b"")
        got += len(part)
        if got > limit:
            raise _too_large(got, limit, at_least=True)
        chunks.append(part)
        if not msg.get("more_body", False):
            return b"".join(chunks)


def _too_large(size: int, limit: int, at_least: bool = False) -> LimitError:
    more = "more than " if at_least else ""
    return LimitError(
        413, "body", size,
        f"{more}{size} bytes is over the limit of {limit} bytes (max_body_bytes)",
        ("max_body_bytes", limit),
    )  # fmt: skip


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the real channel."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def send_error(send: Send, err: LimitError) -> None:
    """Answer ``err`` as JSON directly over ASGI (outside FastAPI's handlers)."""
    payload = json.dumps(err.body(), default=str).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in err.headers.items()),
    ]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
