"""Retraining: the one training pipeline run on a recent window of data, in three modes.

=========  =========================  ============  ==========================================
mode       training window            validation    what is trained
=========  =========================  ============  ==========================================
daily      last 7 days                last 1 day    the configured models, refitted on the window
weekly     last 90 days               last 7 days   full retrain
triggered  last 90 days               last 7 days   full retrain, for a monitoring request
=========  =========================  ============  ==========================================

The window ends at ``as_of`` (default: the last hour of actuals in the data set, UTC) and is
preceded by the lookback the features need (the longest load lag or rolling window). Before any
training the window's actuals are checked: a city with a larger share of missing hours than
``max_gap_share`` refuses the run (:class:`StaleDataError`, after a notification). The window's
own content hash is recorded with the outcome.

Validation: the pipeline's protocol is the window's last ``val_days`` days of day-ahead origins;
the champion is scored on the same origins and the multi-window promotion gate decides
(:func:`energy.lifecycle.pipeline.train_and_register`). A version that does not beat the champion
is registered (alias ``challenger``) and not promoted.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from energy import schema
from energy.data.dataset import Dataset, content_hash

if TYPE_CHECKING:
    from energy.config.experiment import ExperimentConfig

Progress = Callable[[str], None]
Notify = Callable[[str, dict[str, Any]], None]
"""``notify(kind, payload)``: ``retraining_refused``, ``retraining_done``, ``retraining_failed``."""
MODES = ("daily", "weekly", "triggered")


def _quiet(_: str) -> None:
    return None


def _no_notify(_kind: str, _payload: dict[str, Any]) -> None:
    return None


class WindowSettings(BaseModel):
    """One mode's window: ``train_days`` of training rows, the last ``val_days`` validating."""

    model_config = ConfigDict(extra="forbid")
    train_days: int = Field(ge=1)
    val_days: int = Field(ge=1)


class RetrainSettings(BaseModel):
    """How retraining runs (defaults: the seed's windows).

    Attributes:
        windows: per mode, the training and validation days.
        max_gap_share: largest share (0–1) of missing hourly actuals a city may have in the
            window before the run is refused.
        debounce_hours: triggered runs: at most one per city group per this many hours.
        city_groups: triggered runs: group name → city ids retrained together (a city in no
            group is its own group).
    """

    model_config = ConfigDict(extra="forbid")
    windows: dict[str, WindowSettings] = Field(
        default_factory=lambda: {
            "daily": WindowSettings(train_days=7, val_days=1),
            "weekly": WindowSettings(train_days=90, val_days=7),
            "triggered": WindowSettings(train_days=90, val_days=7),
        }
    )
    max_gap_share: float = Field(default=0.05, ge=0.0, le=1.0)
    debounce_hours: float = Field(default=24.0, ge=0.0)
    city_groups: dict[str, list[str]] = Field(default_factory=dict)


class StaleDataError(RuntimeError):
    """The window's actuals have more gaps than allowed; ``gaps`` maps city → missing share."""

    def __init__(self, message: str, gaps: dict[str, float]) -> None:
        super().__init__(message)
        self.gaps = gaps


@dataclass(frozen=True)
class Window:
    """The rows a retraining run uses (UTC, hourly, ``[start, end)``).

    Attributes:
        mode: the retraining mode.
        start: first hour of the training window (the lookback before it is read too).
        end: one hour after the last hour of actuals used.
        val_days: the last days of the window that validate (the promotion protocol).
        lookback_hours: history read before ``start`` for lags and rolling windows.
    """

    mode: str
    start: pd.Timestamp
    end: pd.Timestamp
    val_days: int
    lookback_hours: int

    @property
    def read_from(self) -> pd.Timestamp:
        return self.start - pd.Timedelta(hours=self.lookback_hours)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "val_days": self.val_days,
            "lookback_hours": self.lookback_hours,
        }


@dataclass(frozen=True)
class RetrainOutcome:
    """What one retraining run did.

    Attributes:
        mode: daily, weekly or triggered.
        window: the data window used.
        data_hash: content hash of the window's rows (lookback included).
        gaps: city → share of missing hourly actuals in the window.
        reason: why it ran (the schedule, or the monitoring requests of a triggered run).
        result: the pipeline's :class:`~energy.lifecycle.pipeline.TrainResult`.
    """

    mode: str
    window: Window
    data_hash: str
    gaps: dict[str, float]
    reason: str
    result: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        return bool(getattr(self.result, "promoted", False))

    def summary(self) -> dict[str, Any]:
        """JSON-ready: mode, window, data hash, gaps, reason, version and verdict."""
        decision = getattr(self.result, "decision", None)
        return {
            "mode": self.mode,
            "window": self.window.as_dict(),
            "data_hash": self.data_hash,
            "gaps": self.gaps,
            "reason": self.reason,
            "version": getattr(self.result, "version", None),
            "promoted": self.promoted,
            "decision": getattr(decision, "reason", None),
            **self.extra,
        }


def lookback_hours(cfg: ExperimentConfig) -> int:
    """Hours of history the features need before the first training hour."""
    f = cfg.features
    longest = max([*(f.lags or ()), *f.rolling_windows, *f.temp_rolling_windows, *f.temp_lags, 24])
    return int(math.ceil((longest + cfg.horizon) / 24) * 24)


def window_for(
    mode: str,
    cfg: ExperimentConfig,
    data_end: pd.Timestamp,
    settings: RetrainSettings | None = None,
    *,
    as_of: pd.Timestamp | str | None = None,
    zones: list[str] | None = None,
) -> Window:
    """The window of ``mode`` ending at ``as_of`` (default: ``data_end``, the last actual hour).

    The end is rounded down to a local midnight (the latest among the cities' ``zones``;
    default UTC), so that the validation days hold whole day-ahead origins (local midnights).
    """
    s = settings or RetrainSettings()
    if mode not in s.windows:
        raise ValueError(f"--mode: expected one of {', '.join(s.windows)}, got {mode!r}")
    w = s.windows[mode]
    last = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp(data_end)
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
    after = last + pd.Timedelta(hours=1)
    end = max(after.tz_convert(z).normalize().tz_convert("UTC") for z in (zones or ["UTC"]))
    start = end - pd.Timedelta(days=w.train_days + w.val_days)
    return Window(mode, start, end, w.val_days, lookback_hours(cfg))


def gap_shares(ds: Dataset, window: Window) -> dict[str, float]:
    """City → share (0–1) of the window's hours without an actual load value."""
    hours = int((window.end - window.start) / pd.Timedelta(hours=1))
    load = ds.load
    t = load[schema.TIME]
    inside = load[(t >= window.start) & (t < window.end) & load[schema.LOAD].notna()]
    present = inside.groupby(schema.CITY)[schema.TIME].nunique()
    return {c: round(1.0 - float(present.get(c, 0)) / hours, 4) for c in ds.city_ids}


def check_fresh(ds: Dataset, window: Window, max_gap_share: float) -> dict[str, float]:
    """The window's gap shares; raises :class:`StaleDataError` when one is above the limit."""
    gaps = gap_shares(ds, window)
    bad = {c: g for c, g in gaps.items() if g > max_gap_share}
    if bad:
        worst = max(bad, key=lambda c: bad[c])
        raise StaleDataError(
            f"data: {len(bad)} of {len(gaps)} cities miss more than {max_gap_share:.1%} of the "
            f"hours {window.start:%Y-%m-%d %H:%M} → {window.end:%Y-%m-%d %H:%M} UTC "
            f"(worst {worst}: {bad[worst]:.1%}); refusing to retrain",
            gaps,
        )
    return gaps


def slice_window(ds: Dataset, window: Window) -> Dataset:
    """The rows of ``window`` (lookback included), with the slice's own content hash."""
    t = ds.load[schema.TIME]
    load = ds.load[(t >= window.read_from) & (t < window.end)].reset_index(drop=True)
    ev = ds.events
    digest = content_hash(load, ds.cities, ev)
    manifest = {**ds.manifest, "content_hash": digest, "window": window.as_dict()}
    return Dataset(load=load, cities=ds.cities, events=ev, manifest=manifest, quality=ds.quality)


def config_for(cfg: ExperimentConfig, window: Window) -> ExperimentConfig:
    """``cfg`` with the protocol on the window's validation days and early-stopping validation
    that fits inside a short window (at most a seventh of the training days)."""
    train_days = int((window.end - window.start) / pd.Timedelta(days=1)) - window.val_days
    inner = max(1, min(cfg.ensemble.val_days, train_days // 7))
    return cfg.model_copy(
        update={
            "promotion": cfg.promotion.model_copy(update={"windows_days": window.val_days}),
            "ensemble": cfg.ensemble.model_copy(update={"val_days": inner}),
        }
    )


def retrain(
    mode: str,
    cfg: ExperimentConfig,
    data: str | os.PathLike[str] | Dataset,
    out: str | os.PathLike[str],
    *,
    as_of: pd.Timestamp | str | None = None,
    cities: list[str] | None = None,
    kind: str = "ensemble",
    reason: str | None = None,
    settings: RetrainSettings | None = None,
    notify: Notify = _no_notify,
    train: Callable[..., Any] | None = None,
    session: Callable[[], AbstractContextManager[Any]] | None = None,
    progress: Progress = _quiet,
    **pipeline: Any,
) -> RetrainOutcome:
    """Check the window's data, then train → track → register → gate on it.

    Args:
        mode: ``daily``, ``weekly`` or ``triggered``.
        cfg: the experiment config.
        data: a data set directory or a :class:`Dataset` holding the latest actuals.
        out: output directory (model package, ``train.json``, ``backtest/``).
        as_of: last hour of actuals to use (UTC; default: the data's last hour).
        cities: city ids (None: all).
        kind: the model kind trained (``ensemble`` by default).
        reason: why it runs (default: ``scheduled <mode>``).
        settings: windows, gap limit, debounce.
        notify: told about refusals and outcomes.
        train: the pipeline (default :func:`energy.lifecycle.pipeline.train_and_register`).
        session: opens the training backend (e.g. the job's Ray cluster) and yields it as the
            pipeline's ``backend``; entered only once the window passed the data check.
        progress: one line per step.
        **pipeline: passed on to ``train`` (``backend``, ``register``, ``track``).

    Raises:
        StaleDataError: the window has too many gaps (after ``notify``).
    """
    from energy.lifecycle.experiment import load_data

    s = settings or RetrainSettings()
    ds = data if isinstance(data, Dataset) else load_data(Path(data), None)
    ds = ds.select(cities)
    zones = sorted(set(ds.cities["timezone"].astype(str)))
    window = window_for(mode, cfg, ds.load[schema.TIME].max(), s, as_of=as_of, zones=zones)
    why = reason or f"scheduled {mode}"
    progress(f"{mode} retraining on {window.start:%Y-%m-%d} → {window.end:%Y-%m-%d} UTC ({why})")
    try:
        gaps = check_fresh(ds, window, s.max_gap_share)
    except StaleDataError as e:
        notify("retraining_refused", {"mode": mode, "reason": str(e), "gaps": e.gaps})
        raise
    part = slice_window(ds, window)
    digest = str(part.manifest["content_hash"])
    progress(f"window data hash {digest[:12]}; largest gap share {max(gaps.values()):.1%}")
    run = train if train is not None else _pipeline()
    with session() if session is not None else nullcontext() as backend:
        if backend is not None:
            pipeline["backend"] = backend
        result = run(config_for(cfg, window), part, out, kind=kind, progress=progress, **pipeline)
    outcome = RetrainOutcome(mode, window, digest, gaps, why, result)
    _record(outcome)
    notify("retraining_done", outcome.summary())
    return outcome


def _record(outcome: RetrainOutcome) -> None:
    """Why and on what the run retrained: tags on its MLflow run and its registered version."""
    run_id = getattr(outcome.result, "run_id", None)
    version = getattr(outcome.result, "version", None)
    if run_id is None and version is None:
        return
    from energy import tracking

    w = outcome.window
    tags = {
        "retrain_mode": outcome.mode,
        "retrain_reason": outcome.reason,
        "retrain_window": f"{w.start.isoformat()}/{w.end.isoformat()}",
        "retrain_data_hash": outcome.data_hash,
    }
    if run_id is not None:
        tracking.Run(run_id, tracking.client()).set_tags(tags)
    if version is not None:
        cfg = getattr(outcome.result, "config", None)
        if cfg is not None:
            tracking.set_version_tags(cfg.promotion.registered_model, version, tags)


def _pipeline() -> Callable[..., Any]:
    """The one training pipeline (imported late: it brings tracking and the models)."""
    from energy.lifecycle.pipeline import train_and_register

    return train_and_register
