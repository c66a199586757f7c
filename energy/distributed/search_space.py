"""Search spaces: each forecaster's neutral ``search_space()`` plus YAML overrides → Ray Tune.

This is the one place that maps :class:`energy.models.base.Param` to Ray Tune domains. A search
space is ``{config field: Param}`` of one model kind; the tune YAML's ``space:`` block edits it::

    space:
      max_depth: {kind: int, low: 3, high: 8}        # replace (or add) a dimension
      learning_rate: {kind: float, low: 0.01, high: 0.3, log: true}
      hidden_sizes: [[32], [64, 32]]                 # a list: categorical choices
      subsample: null                                # not searched: the profile's value stays
      n_estimators: 300                              # a scalar: fixed in every trial

How each search algorithm sees a dimension:

======== ====================== ========================= ==================================
kind     tpe / random           gp (Gaussian process)     grid
======== ====================== ========================= ==================================
float    (log)uniform           (log)uniform              ``grid_points`` values, lin/geom
int      (log)randint           (log)uniform, rounded     ``grid_points`` values, rounded
category choice                 not searched (profile's)  every choice
======== ====================== ========================= ==================================

Choices that are not scalars (``hidden_sizes: [64, 32]``) travel through Tune as JSON text,
because Optuna's categorical distributions hold only scalars; :func:`from_tune` decodes them.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from energy.models.base import Param
from energy.models.kinds import model_class

SEARCHES = ("tpe", "gp", "random", "grid")
"""tpe: Optuna TPE (Bayesian, the default); gp: Gaussian-process Bayesian optimisation
(BayesOptSearch, continuous dimensions only); random; grid (every combination)."""
_KINDS = ("float", "int", "categorical")


def check_search(search: str) -> str:
    """The search algorithm's name, or a ValueError naming the known ones."""
    if search not in SEARCHES:
        raise ValueError(f"--search: unknown algorithm {search!r} (expected one of "
                         f"{', '.join(SEARCHES)})")  # fmt: skip
    return search


def check_param(name: str, p: Param) -> Param:
    """``p`` if it describes a non-empty range or choice list; else a ValueError naming ``name``."""
    where = f"space.{name}"
    if p.kind not in _KINDS:
        raise ValueError(f"{where}: kind {p.kind!r} is not one of {', '.join(_KINDS)}")
    if p.kind == "categorical":
        if not p.choices:
            raise ValueError(f"{where}: categorical needs a non-empty list of choices")
        return p
    if p.low is None or p.high is None:
        raise ValueError(f"{where}: {p.kind} needs low and high (got low={p.low}, high={p.high})")
    if not p.low < p.high:
        raise ValueError(f"{where}: low {p.low} must be below high {p.high}")
    if p.log and p.low <= 0:
        raise ValueError(f"{where}: log scale needs low > 0 (got {p.low})")
    if p.kind == "int" and (p.low != int(p.low) or p.high != int(p.high)):
        raise ValueError(f"{where}: int bounds must be whole numbers (got {p.low}, {p.high})")
    return p


def _override(name: str, value: Any) -> Param | tuple[str, Any] | None:
    """One ``space:`` entry → a Param, None (drop), or ``("fixed", value)``."""
    if value is None:
        return None
    if isinstance(value, list):
        return check_param(name, Param("categorical", choices=tuple(value)))
    if isinstance(value, dict):
        unknown = set(value) - {"kind", "low", "high", "log", "choices"}
        if unknown:
            raise ValueError(f"space.{name}: unknown key {sorted(unknown)[0]!r} (use kind, low, "
                             "high, log, choices)")  # fmt: skip
        if "kind" not in value:
            raise ValueError(f"space.{name}: needs kind (float, int or categorical)")
        choices = value.get("choices")
        p = Param(
            kind=value["kind"], low=value.get("low"), high=value.get("high"),
            log=bool(value.get("log", False)),
            choices=tuple(choices) if choices is not None else None,
        )  # fmt: skip
        return check_param(name, p)
    return ("fixed", value)


def resolve_space(
    kind: str, overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Param], dict[str, Any]]:
    """The search space of model ``kind`` with the YAML ``overrides`` applied.

    Returns:
        ``(space, fixed)``: the dimensions to search and the fields fixed for every trial.

    Raises:
        ValueError: an override names no config field of ``kind``, or describes an empty range;
            or nothing is left to search.
    """
    cls = model_class(kind)
    fields = set(cls.Config.model_fields)
    space = {k: check_param(k, p) for k, p in cls.search_space().items()}
    fixed: dict[str, Any] = {}
    for name, value in (overrides or {}).items():
        if name not in fields:
            raise ValueError(f"space.{name}: {kind} has no config field {name!r} (fields: "
                             f"{', '.join(sorted(fields))})")  # fmt: skip
        got = _override(name, value)
        space.pop(name, None)
        if isinstance(got, tuple):
            fixed[name] = got[1]
        elif got is not None:
            space[name] = got
    if not space:
        raise ValueError(f"space: nothing left to search for {kind}")
    return space, fixed


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _plain(v: Any) -> Any:
    """Tuples as lists, so that YAML lists and Python tuples compare equal."""
    return [_plain(x) for x in v] if isinstance(v, (list, tuple)) else v


def encode(p: Param, value: Any) -> Any:
    """A config value as Tune carries it for ``p`` (non-scalar choices → JSON text)."""
    if p.kind == "categorical" and not all(_scalar(c) for c in p.choices or ()):
        return json.dumps(_plain(value))
    return value


def grid_values(p: Param, n: int) -> list[Any]:
    """The values a grid search tries for ``p``: every choice, or ``n`` spaced points."""
    if p.kind == "categorical":
        return [encode(p, c) for c in p.choices or ()]
    assert p.low is not None and p.high is not None
    pts = np.geomspace(p.low, p.high, n) if p.log else np.linspace(p.low, p.high, n)
    if p.kind == "int":
        return sorted({round(float(x)) for x in pts})
    return [float(f"{x:.6g}") for x in pts]


def grid_size(space: dict[str, Param], n: int) -> int:
    """Trials in a full grid over ``space`` with ``n`` points per numeric dimension."""
    return math.prod(len(grid_values(p, n)) for p in space.values())


def to_tune(
    space: dict[str, Param], search: str, grid_points: int = 3
) -> tuple[dict[str, Any], list[str]]:
    """Ray Tune ``param_space`` for ``search``, plus notes on dimensions it cannot search.

    Args:
        space: dimensions from :func:`resolve_space`.
        search: one of :data:`SEARCHES`.
        grid_points: grid search only: values per numeric dimension.
    """
    from ray import tune

    check_search(search)
    out: dict[str, Any] = {}
    notes: list[str] = []
    for name, p in space.items():
        if search == "grid":
            out[name] = tune.grid_search(grid_values(p, grid_points))
        elif p.kind == "categorical":
            if search == "gp":
                notes.append(f"gp searches continuous ranges only: {name} (categorical) keeps "
                             "the profile's value")  # fmt: skip
                continue
            out[name] = tune.choice([encode(p, c) for c in p.choices or ()])
        elif p.kind == "float" or search == "gp":  # gp: ints as floats, rounded in from_tune
            lo, hi = float(p.low or 0), float(p.high or 0)
            out[name] = tune.loguniform(lo, hi) if p.log else tune.uniform(lo, hi)
        else:  # int; Tune's upper bound is exclusive
            lo_i, hi_i = int(p.low or 0), int(p.high or 0) + 1
            out[name] = tune.lograndint(lo_i, hi_i) if p.log else tune.randint(lo_i, hi_i)
    if not out:
        raise ValueError(f"space: nothing {search} can search ({'; '.join(notes)})")
    return out, notes


def from_tune(config: dict[str, Any], space: dict[str, Param]) -> dict[str, Any]:
    """A trial's Tune config → model config fields (JSON choices decoded, ints rounded)."""
    out: dict[str, Any] = {}
    for name, value in config.items():
        p = space.get(name)
        if p is None:
            out[name] = value
        elif p.kind == "int":
            out[name] = round(float(value))
        elif p.kind == "float":
            out[name] = float(value)
        elif isinstance(value, str) and not all(_scalar(c) for c in p.choices or ()):
            out[name] = json.loads(value)
        else:
            out[name] = value
    return out


def start_point(
    space: dict[str, Param], tune_space: dict[str, Any], current: dict[str, Any]
) -> dict[str, Any] | None:
    """The profile's own values as a first point to evaluate, if every one lies in the space.

    Args:
        space: the neutral dimensions.
        tune_space: the translated space (only its keys are searched).
        current: the model config from the profile (defaults filled in).
    """
    point: dict[str, Any] = {}
    for name in tune_space:
        p, v = space[name], current.get(name)
        if v is None:
            return None
        if p.kind == "categorical":
            v = _plain(v)
            if v not in [_plain(c) for c in p.choices or ()]:
                return None
            point[name] = encode(p, v)
        elif not (p.low or 0) <= float(v) <= (p.high or 0):
            return None
        else:
            point[name] = v
    return point
