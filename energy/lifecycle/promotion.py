"""Promote only if improved: the evaluation protocol, the gate, and champion moves.

A **protocol** is the last ``promotion.windows_days`` days of day-ahead origins of a data set
(:func:`protocol_for`): a candidate is fitted on the rows before its first origin and scored on
the origins (:func:`score`), so no model is ever compared on hours it was trained on. Its id
hashes the data hash, cities, origin span and horizon; versions scored on the same id compare
directly, otherwise the champion's config is refitted and scored on the challenger's protocol.

:func:`is_performance_improved` is the pure gate; :mod:`energy.lifecycle.champion` applies it
to registered
versions and moves the ``champion`` alias.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from energy import schema, tracking

if TYPE_CHECKING:
    from energy.config.experiment import ExperimentConfig
    from energy.data.dataset import Dataset
    from energy.evaluation.rolling import BacktestResult
    from energy.models.base import Forecaster

Progress = Callable[[str], None]
HIGHER_IS_BETTER = frozenset({"r2"})
TAGGED_METRICS = ("mape", "mape_pooled", "mae", "rmse", "mase", "mase24", "r2")


def _quiet(_: str) -> None:
    return None


# ---- protocol and scoring --------------------------------------------------------------------
@dataclass(frozen=True)
class Protocol:
    """Day-ahead origins in ``[start, end)`` (UTC instants) of ``cities`` of one data set."""

    data_hash: str
    cities: tuple[str, ...]
    start: str
    end: str
    horizon: int

    @property
    def id(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, **asdict(self), "cities": list(self.cities)}


def protocol_for(data: Dataset, cfg: ExperimentConfig) -> Protocol:
    """The last ``cfg.promotion.windows_days`` days of day-ahead origins (local midnights)."""
    from energy.evaluation.rolling import day_ahead_origins

    end = data.load[schema.TIME].max() + pd.Timedelta(hours=1)
    lo = end - pd.Timedelta(days=cfg.promotion.windows_days)
    origins = day_ahead_origins(data, lo, end, 0, cfg.horizon)
    if origins.empty:
        raise ValueError(
            f"promotion.windows_days: no complete day-ahead origin in the last "
            f"{cfg.promotion.windows_days} days of the data (ending {end})"
        )
    start = pd.Timestamp(origins["origin"].min()).tz_convert("UTC")
    return Protocol(
        data_hash=str(data.manifest.get("content_hash", "")),
        cities=tuple(data.city_ids),
        start=start.isoformat(),
        end=end.tz_convert("UTC").isoformat(),
        horizon=cfg.horizon,
    )


def before(data: Dataset, protocol: Protocol) -> Dataset:
    """The rows a candidate may be fitted on: everything before the protocol's first origin."""
    from energy.evaluation.rolling import subset

    return subset(data, (data.load[schema.TIME] < pd.Timestamp(protocol.start)).to_numpy())


def score(
    model: Forecaster,
    cfg: ExperimentConfig,
    data: Dataset,
    protocol: Protocol,
    *,
    name: str = "ensemble",
    progress: Progress = _quiet,
) -> BacktestResult:
    """Backtest ``model`` on the protocol's origins; an unfitted model is fitted first on the rows
    before them (the last ``ensemble.val_days`` days as validation)."""
    from energy.evaluation import schemes as evaluation

    return evaluation.backtest(
        model,
        data,
        start=pd.Timestamp(protocol.start),
        end=pd.Timestamp(protocol.end),
        horizon=protocol.horizon,
        val_days=cfg.ensemble.val_days,
        name=name,
        progress=progress,
    )


def summarize(result: BacktestResult) -> dict[str, Any]:
    """``{"overall": {metric: v}, "per_city": {city: {metric: v}}, "members": {m: {...}}}``."""
    models = result.metrics["models"]
    main = models[result.name]
    keep = lambda d: {k: float(d[k]) for k in TAGGED_METRICS if k in d}  # noqa: E731
    return {
        "overall": keep(main["overall"]),
        "per_city": {c: keep(m) for c, m in main["per_city"].items()},
        "members": {k: keep(v["overall"]) for k, v in models.items() if k != result.name},
    }


def flat_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """A summary as MLflow metrics: ``overall/mape``, ``city/<id>/mape``, ``member/<m>/mape``."""
    out = {tracking.metric_key("overall", k): v for k, v in summary["overall"].items()}
    for city, m in summary["per_city"].items():
        out |= {tracking.metric_key("city", city, k): v for k, v in m.items()}
    for member, m in summary.get("members", {}).items():
        out |= {tracking.metric_key("member", member, k): v for k, v in m.items()}
    return out


def version_tags(meta: Mapping[str, Any]) -> dict[str, str]:
    """Registry tags of a package: config, data hash, protocol id and its metrics."""
    ev = meta.get("metrics") or {}
    protocol = meta.get("protocol") or {}
    tags = {
        "config_name": str(meta.get("config_name", "")),
        "kind": str(meta.get("train_kind", meta.get("kind", ""))),
        "data_hash": str(meta.get("data_hash", "")),
        "protocol_id": str(protocol.get("id", "")),
        "protocol": json.dumps(protocol),
    }
    tags |= {f"metric.{k}": f"{v:.6g}" for k, v in ev.get("overall", {}).items()}
    for m in TAGGED_METRICS:
        cities = {c: round(v[m], 6) for c, v in ev.get("per_city", {}).items() if m in v}
        if cities:
            tags[f"per_city.{m}"] = json.dumps(cities)
    return tags


# ---- the gate ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """The gate's verdict and the numbers behind it (metric values in the metric's unit)."""

    promote: bool
    reason: str
    metric: str
    challenger: float | None = None
    champion: float | None = None
    improvement: float | None = None  # relative; > 0 means the challenger is better
    regressions: dict[str, dict[str, float]] = field(default_factory=dict)
    champion_version: str | None = None
    champion_source: str = ""  # "tags" (same protocol) or "re-evaluated"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _better_by(new: float, old: float, metric: str) -> float:
    """Relative improvement of ``new`` over ``old`` (> 0 = better), in either direction."""
    gain = (new - old) if metric in HIGHER_IS_BETTER else (old - new)
    return gain / abs(old) if old != 0 else (math.inf if gain > 0 else -math.inf * (gain < 0))


def _non_finite(summary: Mapping[str, Any]) -> list[str]:
    """The ``overall/<m>`` and ``city/<c>/<m>`` entries of a summary that are not finite numbers
    (a NaN, an infinity, or a value that is not a number at all)."""

    def bad(v: Any) -> bool:
        try:
            return not math.isfinite(float(v))
        except (TypeError, ValueError):
            return True

    out = [f"overall/{k}" for k, v in summary.get("overall", {}).items() if bad(v)]
    for city, m in sorted(summary.get("per_city", {}).items()):
        out += [f"city/{city}/{k}" for k, v in m.items() if bad(v)]
    return out


def is_performance_improved(
    challenger: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    *,
    metric: str = "mape",
    margin: float = 0.01,
    city_tolerance: float = 0.05,
) -> Decision:
    """Whether a challenger may replace the champion (both scored on the same protocol).

    Args:
        challenger, champion: ``{"overall": {metric: value}, "per_city": {city: {metric: value}}}``;
            champion None when there is none yet (the challenger becomes the first champion).
        metric: the deciding metric (lower is better except ``r2``).
        margin: relative improvement of the overall metric required (0.01 = 1 % better).
        city_tolerance: relative worsening allowed in any single city (0.05 = 5 % worse).

    Returns:
        A :class:`Decision`; rejected when the challenger's metric is missing, any of its overall
        or per-city metrics is not finite (NaN, inf), the overall improvement is below
        ``margin``, or a city worsens beyond ``city_tolerance``.
    """
    new = challenger.get("overall", {}).get(metric)
    if new is None or not math.isfinite(new):
        return Decision(False, f"challenger has no finite {metric} ({new})", metric, new)
    if bad := _non_finite(challenger):  # NaN anywhere: the model answers NaN somewhere
        return Decision(False, f"challenger has non-finite metrics ({', '.join(bad)})", metric, new)
    if champion is None:
        return Decision(True, "first version: there is no champion yet", metric, new)
    old = champion.get("overall", {}).get(metric)
    if old is None or not math.isfinite(old):
        return Decision(True, f"champion has no finite {metric} ({old})", metric, new, old)
    gain = _better_by(new, old, metric)
    regressions = {}
    for city, theirs in sorted(champion.get("per_city", {}).items()):
        ours = challenger.get("per_city", {}).get(city, {}).get(metric)
        if metric not in theirs or not math.isfinite(theirs[metric]):
            continue
        if ours is None or not math.isfinite(ours):
            regressions[city] = {"challenger": math.nan, "champion": theirs[metric]}
            continue
        worse = -_better_by(ours, theirs[metric], metric)
        if worse > city_tolerance:
            regressions[city] = {
                "challenger": ours,
                "champion": theirs[metric],
                "worse_by": worse,
            }
    if gain < margin:
        reason = (
            f"{metric} {new:.4g} vs champion {old:.4g}: improvement {gain:+.2%} is below the "
            f"required margin {margin:.2%}"
        )
        return Decision(False, reason, metric, new, old, gain, regressions)
    if regressions:
        city, r = next(iter(regressions.items()))
        reason = (
            f"{metric} improves {gain:+.2%} overall, but {len(regressions)} city(ies) regress "
            f"beyond the {city_tolerance:.0%} tolerance (e.g. {city}: {r['challenger']:.4g} vs "
            f"{r['champion']:.4g})"
        )
        return Decision(False, reason, metric, new, old, gain, regressions)
    reason = f"{metric} {new:.4g} vs champion {old:.4g}: {gain:+.2%} (margin {margin:.2%})"
    return Decision(True, reason, metric, new, old, gain)
