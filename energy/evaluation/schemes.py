"""Day-ahead rolling-origin backtests and the validation schemes built on them.

A backtest fits a forecaster once on everything before the first origin, then forecasts from an
origin every day at local midnight of each city (:func:`day_ahead_origins`) with
``Forecaster.predict_origins`` on the full load table. That table holds actual weather (an ex-post
backtest unless a weather forecast is supplied) and the actual load before each origin, so the
history moves forward with the origins. The model contract says that load at or after an origin
must not influence its forecast; ``strict=True`` enforces it instead of trusting it (slower), and
:func:`check_leakage` compares the two modes.

Schemes: :func:`backtest` (dates in each city's local time), :func:`out_of_time` and
:func:`kfold_backtest` (UTC windows from :mod:`energy.data.splits`, refit per fold) and
:func:`citywise` (cold start on held-out cities). Metrics live in
:mod:`energy.evaluation.metrics` and the
origin mechanics in :mod:`energy.evaluation.rolling` (both re-exported here); files, plots and
:func:`compare` in :mod:`energy.evaluation.reporting`. Loads are MW, times UTC unless said
otherwise.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from energy import schema
from energy.data import splits
from energy.data.dataset import Dataset
from energy.evaluation.metrics import (
    mae,
    mape,
    mase,
    metrics_table,
    naive_scale,
    naive_scales,
    r2,
    rmse,
)
from energy.evaluation.rolling import (
    HOUR,
    BacktestResult,
    LeakageError,
    ModelLike,
    Progress,
    RunOptions,
    check_leakage,
    combine,
    day_ahead_origins,
    forecast_origins,
    fresh_model,
    run,
    subset,
    to_utc,
)
from energy.models.base import Forecaster

# The evaluation API from one import: metrics and rolling-origin pieces are re-exported.
__all__ = [
    "BacktestResult",
    "LeakageError",
    "backtest",
    "check_leakage",
    "citywise",
    "day_ahead_origins",
    "forecast_origins",
    "kfold_backtest",
    "mae",
    "mape",
    "mase",
    "metrics_table",
    "naive_scale",
    "naive_scales",
    "out_of_time",
    "r2",
    "rmse",
]


def _time_fold(
    model: ModelLike, data: Dataset, split: splits.Split, o: RunOptions
) -> BacktestResult:
    """Fit a fresh model on a time split's train/val rows; forecast its test window's origins."""
    assert split.test_start is not None and split.test_end is not None
    view = subset(data, (data.load[schema.TIME] < split.test_end).to_numpy())
    origins = day_ahead_origins(view, split.test_start, split.test_end, o.hour_local, o.horizon)
    fit_on = (subset(data, split.train), subset(data, split.val) if len(split.val) else None)
    seen = data.load.iloc[np.concatenate([split.train, split.val])]
    r = run(fresh_model(model), view, origins, o, truth=data.load, seen=seen, fit_on=fit_on)
    r.info.update(test_start=str(split.test_start), test_end=str(split.test_end))
    return r


def _skipped(name: str, reason: str, o: RunOptions) -> BacktestResult:
    """A city-wise result without predictions, saying why the model was not evaluated."""
    o.say(f"skipping city-wise validation: {reason}")
    empty = pd.DataFrame(columns=[schema.CITY, "origin", schema.TIME, "step", "y", "yhat"])
    return BacktestResult(name, empty, info={"scheme": "citywise"}, skipped=reason)


# ---- schemes -----------------------------------------------------------------------------------
def backtest(
    model: ModelLike,
    data: Dataset,
    *,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    horizon: int = 24,
    train_start: str | pd.Timestamp | None = None,
    val_days: int = 14,
    hour_local: int = 0,
    members: bool = True,
    weather: pd.DataFrame | None = None,
    strict: bool = False,
    name: str | None = None,
    progress: Progress = print,
) -> BacktestResult:
    """Day-ahead rolling-origin backtest: fit once before ``start``, forecast every local day.

    Args:
        model: a fitted forecaster (used as is) or an unfitted one, a factory or a kind (fitted
            here once on ``[train_start, first origin − val_days)`` with the last ``val_days``
            days before the first origin as validation for early stopping; 0 for none). The
            cut-off is the earliest origin of all cities, so no city's training rows overlap
            another city's forecast hours.
        data: the whole data set: the actuals scored and the history read at each origin.
        start, end: origin window ``[start, end)`` in each city's local time (see
            :func:`day_ahead_origins`).
        horizon: hours per origin.
        train_start: first training hour (naive = UTC); default the first row.
        members: add ``yhat_<member>`` columns when the model has ``member_predictions``.
        weather: a weather forecast (``city_id``, ``timestamp``, weather columns) replacing the
            actual weather in forecast hours. Without issue times (vintages) every origin whose
            horizon covers an hour gets the same value (see :func:`forecast_origins`).
        strict: hide load at and after each origin from its forecast (one call per origin time).
        name: model name in the result; default the model's kind.
        progress: called with progress messages ("fitting …", "predicting …"); None for silence.

    Returns:
        A :class:`BacktestResult`; MASE scales come from the rows before the first origin.
    """
    o = RunOptions(horizon, hour_local, members, strict, weather, name, progress)
    origins = day_ahead_origins(data, start, end, hour_local, horizon)
    if origins.empty:
        raise ValueError(f"start/end: no complete day-ahead origin in [{start}, {end})")
    cutoff = origins["origin"].min()
    t = data.load[schema.TIME]
    before = (
        (t >= (t.min() if train_start is None else to_utc(train_start))) & (t < cutoff)
    ).to_numpy()
    fit_on = None
    if not (isinstance(model, Forecaster) and hasattr(model, "train_cities_")):
        model = model if isinstance(model, Forecaster) else fresh_model(model)
        recent = (t >= cutoff - pd.Timedelta(days=val_days)).to_numpy()
        fit_on = (
            subset(data, before & ~recent),
            subset(data, before & recent) if val_days else None,
        )
    r = run(model, data, origins, o, truth=data.load, seen=data.load[before], fit_on=fit_on)
    r.info.update(scheme="backtest", start=str(start), end=str(end))
    return r


def out_of_time(
    model: ModelLike,
    data: Dataset,
    val_start: str | pd.Timestamp | None,
    test_start: str | pd.Timestamp,
    test_end: str | pd.Timestamp | None = None,
    *,
    horizon: int = 24,
    hour_local: int = 0,
    members: bool = True,
    strict: bool = False,
    weather: pd.DataFrame | None = None,
    name: str | None = None,
    progress: Progress = print,
) -> BacktestResult:
    """Fit a fresh model on ``[first, val_start)`` (early stopping on ``[val_start,
    test_start)``) and backtest the day-ahead origins in ``[test_start, test_end)``.

    Dates follow :func:`energy.data.splits.out_of_time`: naive = **UTC** instants, so a local
    midnight before ``test_start`` UTC (cities east of UTC, first day) is not an origin. Other
    arguments as in :func:`backtest`.
    """
    o = RunOptions(horizon, hour_local, members, strict, weather, name, progress)
    split = splits.out_of_time(
        data.load, val_start=val_start, test_start=test_start, test_end=test_end
    )
    r = _time_fold(model, data, split, o)
    r.info["scheme"] = "out_of_time"
    return r


def kfold_backtest(
    model: ModelLike,
    data: Dataset,
    n_folds: int = 5,
    horizon: int = 24,
    test_days_per_fold: int = 7,
    mode: Literal["expanding", "sliding"] = "expanding",
    *,
    train_days: int | None = None,
    val_days: int = 14,
    end: str | pd.Timestamp | None = None,
    hour_local: int = 0,
    members: bool = True,
    strict: bool = False,
    name: str | None = None,
    progress: Progress = print,
) -> BacktestResult:
    """Rolling-origin K-fold backtest: a fresh model per fold, day-ahead origins in its window.

    Folds come from :func:`energy.data.splits.rolling_origin`: UTC test windows of
    ``test_days_per_fold`` days, the last ending at ``end`` (naive = UTC; default with the data),
    so the K windows tile ``[end − K·days, end)`` without overlap; ``expanding`` training or
    ``sliding`` over ``train_days``; ``val_days`` of validation just before each test window.
    Origins are at local ``hour_local``:00 with their whole horizon inside the window, so folds
    never share a forecast hour. Predictions carry a ``fold`` column; ``info["folds"]`` holds
    each fold's window, timings and overall metrics.
    """
    o = RunOptions(horizon, hour_local, members, strict, None, name, progress)
    folds = splits.rolling_origin(
        data.load,
        n_folds=n_folds,
        horizon_hours=test_days_per_fold * 24,
        mode=mode,
        train_hours=None if train_days is None else train_days * 24,
        val_hours=val_days * 24,
        end=end,
    )
    results = []
    for split in folds:
        o.say(f"{split.name}: test window [{split.test_start}, {split.test_end})")
        results.append((split.name, _time_fold(model, data, split, o)))
    return combine(results, f"kfold ({mode})")


def citywise(
    model: ModelLike,
    data: Dataset,
    k: int = 1,
    n_splits: int | None = None,
    seed: int = 0,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    test_days: int = 28,
    horizon: int = 24,
    val_days: int = 14,
    hour_local: int = 0,
    with_history: bool = False,
    members: bool = True,
    name: str | None = None,
    progress: Progress = print,
) -> BacktestResult:
    """Cold start: fit on the other cities, backtest held-out cities never seen in training.

    Groups of ``k`` held-out cities come from :func:`energy.data.splits.city_wise`. Per group, a
    fresh model is fitted on the other cities' rows before the group's first origin (the last
    ``val_days`` days as validation) and forecasts the held-out cities' day-ahead origins in
    ``[start, end)`` (naive = UTC; default the last ``test_days`` days) from their static
    attributes and weather; their load is hidden entirely (set to NaN) unless ``with_history``,
    which shows their past load as for any other city (an unseen city with history: enough for a
    seasonal naive). MASE scales come from the held-out cities' own load before the first origin
    (never shown to the model without ``with_history``).

    A model without ``capabilities.supports_unseen_cities`` is not run, and one that fails on
    held-out cities without their load history (a seasonal naive has nothing to repeat) stops:
    the result has ``skipped`` set to the reason and no predictions. Each fold's ``info`` names
    its ``test_cities`` and the ``train_cities`` of its model.
    """
    o = RunOptions(horizon, hour_local, members, False, None, name, progress)
    probe = fresh_model(model)
    if not probe.capabilities.supports_unseen_cities:
        reason = (
            f"{probe.kind} cannot forecast cities absent from training "
            "(capabilities.supports_unseen_cities is False)"
        )
        return _skipped(name or probe.kind, reason, o)
    t = data.load[schema.TIME]
    hi = t.max() + HOUR if end is None else to_utc(end)
    lo = hi - pd.Timedelta(days=test_days) if start is None else to_utc(start)
    results = []
    for split in splits.city_wise(data.load, k=k, n_splits=n_splits, seed=seed):
        o.say(f"{split.name}: holding out {', '.join(split.test_cities)}")
        held = data.load[schema.CITY].isin(split.test_cities).to_numpy()
        view = subset(data, held & (t < hi).to_numpy())
        origins = day_ahead_origins(view, lo, hi, hour_local, horizon)
        cutoff = origins["origin"].min() if len(origins) else lo
        before, recent = (
            (t < cutoff).to_numpy(),
            (t >= cutoff - pd.Timedelta(days=val_days)).to_numpy(),
        )
        fit_on = (subset(data, ~held & before & ~recent), subset(data, ~held & before & recent))
        if not with_history:
            view.load[[c for c in (schema.LOAD, schema.LOAD_RAW) if c in view.load]] = np.nan
        seen = data.load[held & before]
        try:
            r = run(fresh_model(model), view, origins, o, truth=data.load, seen=seen, fit_on=fit_on)
        except ValueError as e:  # e.g. a seasonal naive: an unseen city with no load to repeat
            if with_history:
                raise
            why = f"{probe.kind} cannot forecast held-out cities without their load history ({e})"
            return _skipped(name or probe.kind, why, o)
        results.append((split.name, r))
        r.info["test_cities"] = list(split.test_cities)
    return combine(results, "citywise")
