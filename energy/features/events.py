"""Event features: flags for known special periods (strikes, sports finals, lockdowns, outages).

An event covers the UTC interval ``[start, end)``; a row (the hour ``[t, t + 1h)``) is in the event
when the two intervals overlap. Events whose ``city_id`` is ``*`` apply to every city.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from energy import schema

EVENT_PREFIX = "event_"
_DIRECTION_SIGN = {"up": 1.0, "down": -1.0, "": 0.0}


def kind_column(kind: str) -> str:
    """Feature name for an event kind: ``event_`` plus the kind in snake case."""
    slug = re.sub(r"[^0-9a-z]+", "_", kind.lower()).strip("_") or "unnamed"
    if slug == "direction":  # would collide with the event_direction feature
        slug = "kind_direction"
    return EVENT_PREFIX + slug


def event_features(
    hours: np.ndarray,
    seg_bounds: np.ndarray,
    city_ids: Sequence[str],
    events: pd.DataFrame,
    kinds: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Event flags per row, all ``(n_rows,)`` float64.

    Args:
        hours: ``(n_rows,)`` int64 UTC hours since the epoch, rows sorted by city then time.
        seg_bounds: ``(n_cities + 1,)`` row offsets of each city's block.
        city_ids: the city of each block.
        events: a validated events table (``schema.validate_events``), times in UTC.
        kinds: event kinds that get their own flag (those seen in fit); ``None`` means every kind
            in ``events``. Events of other kinds still set ``is_event`` and the direction.

    Returns:
        ``is_event`` (0/1), ``event_direction`` (+1 up, -1 down, 0 none or mixed/undirected) and one
        0/1 column per kind, named by :func:`kind_column`.
    """
    n = len(hours)
    if kinds is None:
        kinds = sorted(set(events["kind"])) if len(events) else []
    columns = sorted({kind_column(k) for k in kinds})
    out = {"is_event": np.zeros(n), "event_direction": np.zeros(n)}
    out.update({c: np.zeros(n) for c in columns})
    if len(events) == 0 or n == 0:
        return out
    block = {c: i for i, c in enumerate(city_ids)}
    start = _minutes(events["start"]) // 60  # first overlapping hour
    end = -(-_minutes(events["end"]) // 60)  # first hour at or after the end (ceil)
    for ev_city, kind, direction, lo_h, hi_h in zip(
        events["city_id"], events["kind"], events["direction"], start, end, strict=True
    ):
        targets = range(len(city_ids)) if ev_city == schema.ALL_CITIES else [block.get(ev_city)]
        col = kind_column(kind)
        sign = _DIRECTION_SIGN.get(direction, 0.0)
        for i in targets:
            if i is None:
                continue
            a, b = int(seg_bounds[i]), int(seg_bounds[i + 1])
            lo = a + int(np.searchsorted(hours[a:b], lo_h, side="left"))
            hi = a + int(np.searchsorted(hours[a:b], hi_h, side="left"))
            if lo >= hi:
                continue
            out["is_event"][lo:hi] = 1.0
            out["event_direction"][lo:hi] += sign
            if col in out:
                out[col][lo:hi] = 1.0
    out["event_direction"] = np.sign(out["event_direction"])
    return out


def _minutes(times: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(times).tz_convert("UTC").as_unit("s").asi8 // 60
