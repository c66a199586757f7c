"""Feature families shared by the pipelines of one forecast request.

An ensemble's members each hold their own fitted :class:`~energy.features.FeaturePipeline`
(XGBoost one per step group, the LSTM and the Transformer one each), and on a request every one of
them transforms the same frame. Most of that work does not depend on the member: the sorted rows,
local time, calendar, holidays, events, weather and static features are the same whenever the
inputs and the part of the config they read are the same; only the load lags differ. Inside
``with shared_features():`` (the forecast path opens one per request) each family is computed once
per (frame, inputs) and handed to every pipeline that asks for the same thing; outside it nothing
is kept.

Values are shared, not copied: callers must treat them as read-only (the pipeline only reads them).
The store holds a reference to the frame a value was computed from, so a key made from ``id(frame)``
cannot be reused by another object while the request runs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")
_STORE: ContextVar[dict[Hashable, tuple[object, Any]] | None] = ContextVar(
    "energy_shared_features", default=None
)


@contextmanager
def shared_features() -> Iterator[None]:
    """Share feature families between pipelines until the block ends (nested: the outer store)."""
    if _STORE.get() is not None:
        yield
        return
    token = _STORE.set({})
    try:
        yield
    finally:
        _STORE.reset(token)


def active() -> bool:
    """Whether a :func:`shared_features` block is open in this context."""
    return _STORE.get() is not None


def memo(anchor: object, key: Hashable, compute: Callable[[], T], *, share: bool = True) -> T:
    """``compute()``, or the value computed for the same ``anchor`` object and ``key`` earlier
    in the open :func:`shared_features` block (no block, or ``share`` False: ``compute()``)."""
    store = _STORE.get()
    if store is None or not share:
        return compute()
    full = (id(anchor), key)
    hit = store.get(full)
    if hit is not None and hit[0] is anchor:
        return hit[1]
    value = compute()
    store[full] = (anchor, value)
    return value
