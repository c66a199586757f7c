"""Rolling-origin mechanics shared by every validation scheme in :mod:`energy.evaluation.schemes`.

* :func:`day_ahead_origins`: one origin per city and day at a local hour (midnight by default);
  :func:`subset`: a data set's rows (both from :mod:`energy.data.splits`).
* :func:`forecast_origins`: forecasts from every origin in one call (fast: trusts the model
  contract that load at or after an origin is ignored) or one call per origin time with that load
  hidden (strict: slower, exact), plus the ensemble's per-member forecasts when it has them.
* :func:`check_leakage`: runs both modes and compares them.
* :func:`run`: fit (optionally) + forecast + attach actuals + score, into a :class:`BacktestResult`;
  :func:`combine` merges per-fold results.

Loads are MW; times UTC unless said otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from energy import schema
from energy.data import splits
from energy.data.dataset import Dataset
from energy.data.splits import subset as subset  # re-exported: promotion uses it
from energy.evaluation.metrics import metrics_table, naive_scales
from energy.forecast.engine import predict  # the one forecast path, members in one run
from energy.models.base import Forecaster

HOUR = pd.Timedelta(hours=1)


class LeakageError(AssertionError):
    """Forecasts changed when load at or after their origin was hidden."""


def day_ahead_origins(
    data: Dataset,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    hour_local: int = 0,
    horizon: int = 24,
) -> pd.DataFrame:
    """One origin per city and day at ``hour_local``:00 local time in ``[start, end)``, each with
    its whole horizon in ``data``: :func:`energy.data.splits.day_ahead_origins` on a data set
    (a date or naive time is a wall-clock time in each city's zone)."""
    return splits.day_ahead_origins(
        data.load, data.cities, start, end, horizon=horizon, hour_local=hour_local
    )


def horizon_hours(origins: pd.DataFrame, horizon: int) -> pd.MultiIndex:
    """(city_id, timestamp) of every forecast hour of ``origins``."""
    steps = pd.to_timedelta(np.tile(np.arange(horizon), len(origins)), unit="h")
    ts = pd.DatetimeIndex(np.repeat(origins["origin"].to_numpy(), horizon)) + steps
    cities = np.repeat(origins[schema.CITY].to_numpy(), horizon)
    return pd.MultiIndex.from_arrays([cities, ts])


def override_weather(
    frame: pd.DataFrame, weather: pd.DataFrame, hours: pd.MultiIndex
) -> pd.DataFrame:
    """A copy of ``frame`` with its weather replaced, in the (city, hour) rows of ``hours``, by
    the non-missing values of ``weather`` (columns the frame lacks are ignored)."""
    w = schema.validate_load(weather.assign(**{schema.LOAD: np.nan}))
    w = w.set_index([schema.CITY, schema.TIME])
    w.index = w.index.set_levels(w.index.levels[1].astype(frame[schema.TIME].dtype), level=1)
    key = pd.MultiIndex.from_frame(frame[[schema.CITY, schema.TIME]])
    inside = key.isin(hours)
    out = frame.copy()
    for col in (c for c in schema.WEATHER_COLUMNS if c in w.columns and c in frame.columns):
        vals = w[col].reindex(key).to_numpy(np.float64)
        use = inside & ~np.isnan(vals)
        out[col] = np.where(use, vals, out[col].to_numpy(np.float64))
    return out


def forecast_origins(
    model: Forecaster,
    data: Dataset,
    origins: pd.DataFrame,
    horizon: int = 24,
    *,
    members: bool = True,
    strict: bool = False,
    weather: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Forecasts of a fitted model from every origin, reading history from ``data.load``.

    Args:
        origins: ``city_id``, ``origin`` (UTC).
        members: add ``yhat_<member>`` columns when the model has ``member_predictions(frame,
            cities, origins, horizon) -> {name: array (n_origins, horizon)}`` (the ensemble).
        strict: one model call per distinct origin time on a copy of the table cut at the end of
            its horizon, with all cities' load (and raw load) at and after the origin set to NaN.
            The default (fast) makes one call on the whole table and relies on the contract.
        weather: a weather forecast (``city_id``, ``timestamp``, weather columns) that replaces
            the table's weather in the forecast hours. Fast mode replaces it in the forecast hours
            of all origins at once, so with overlapping horizons or lagged-weather features later
            origins also see it in their history; strict mode applies it per origin only.

    Returns:
        ``predict_origins`` output (+ ``yhat_<member>``), in ``origins`` order (fast) or grouped
        by origin time (strict).
    """
    if not strict:
        frame = data.load
        if weather is not None:
            frame = override_weather(frame, weather, horizon_hours(origins, horizon))
        return predict(model, frame, data.cities, origins, horizon, members=members)
    parts = []
    hidden = [c for c in (schema.LOAD, schema.LOAD_RAW) if c in data.load.columns]
    for o, group in origins.groupby("origin", sort=True):
        frame = data.load[data.load[schema.TIME] < o + horizon * HOUR].copy()
        frame.loc[frame[schema.TIME] >= o, hidden] = np.nan
        if weather is not None:
            frame = override_weather(frame, weather, horizon_hours(group, horizon))
        parts.append(predict(model, frame, data.cities, group, horizon, members=members))
    return pd.concat(parts, ignore_index=True)


def check_leakage(
    model: Forecaster,
    data: Dataset,
    origins: pd.DataFrame,
    horizon: int = 24,
    *,
    atol: float = 1e-6,
    raise_on_leak: bool = False,
) -> bool:
    """Whether a fitted model's forecasts ignore load at and after their origins.

    Forecasts ``origins`` in fast mode (the full table) and in strict mode (load at and after
    each origin hidden) and compares the two, members included.

    Returns:
        True when both agree within ``atol`` MW (no leakage found), False otherwise.

    Raises:
        LeakageError: when they disagree and ``raise_on_leak`` is set.
    """
    fast = forecast_origins(model, data, origins, horizon)
    strict = forecast_origins(model, data, origins, horizon, strict=True)
    keys = [schema.CITY, "origin", "step"]
    for df in (fast, strict):
        df["origin"] = pd.to_datetime(df["origin"], utc=True)
    both = fast.merge(strict, on=keys, suffixes=("", "_strict"))
    diff = np.zeros(len(both))
    for c in (c for c in fast.columns if c == "yhat" or c.startswith("yhat_")):
        a, b = both[c].to_numpy(np.float64), both[f"{c}_strict"].to_numpy(np.float64)
        d = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
        diff = np.fmax(diff, np.where(np.isnan(d), np.inf, d))
    ok = len(both) == len(fast) == len(strict) and bool((diff <= atol).all())
    if not ok and raise_on_leak:
        where = ""
        if len(both):
            worst = both.iloc[int(np.argmax(diff))]
            where = f" (worst: city {worst[schema.CITY]}, origin {worst['origin']})"
        raise LeakageError(
            f"{model.kind}: forecasts change by up to {diff.max(initial=0):.6g} MW when load at "
            f"or after the origin is hidden{where}"
        )
    return ok


#: A fitted or unfitted forecaster, a zero-argument factory, or a registered kind.
ModelLike = Forecaster | Callable[[], Forecaster] | str
Progress = Callable[[str], object] | None


@dataclass
class BacktestResult:
    """Forecasts, actuals and metrics of one model under one validation scheme.

    Attributes:
        name: model name; the key of ``yhat`` in ``metrics["models"]``.
        predictions: ``city_id, origin, timestamp, step, y, yhat, yhat_<member>…,
            weather_source`` (+ ``fold`` for multi-fold schemes); MW, UTC.
        metrics: :func:`energy.metrics.metrics_table` output (empty when skipped).
        fit_s, predict_s: wall-clock seconds spent fitting and forecasting (all folds).
        info: scheme, horizon, windows, origin count, per-fold summaries, city time zones.
        skipped: why the model was not evaluated (e.g. no cold start); None when it was.
    """

    name: str
    predictions: pd.DataFrame
    metrics: dict[str, Any] = field(default_factory=dict)
    fit_s: float = 0.0
    predict_s: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    @property
    def members(self) -> list[str]:
        return [c[5:] for c in self.predictions.columns if c.startswith("yhat_")]

    @property
    def overall(self) -> dict[str, Any]:
        """Overall metrics of the main forecast (empty when skipped)."""
        return dict(self.metrics.get("models", {}).get(self.name, {}).get("overall", {}))


@dataclass(frozen=True, eq=False)
class RunOptions:
    """Options every scheme passes down to one fit + forecast run."""

    horizon: int = 24
    hour_local: int = 0
    members: bool = True
    strict: bool = False
    weather: pd.DataFrame | None = None
    name: str | None = None
    progress: Progress = print

    def say(self, msg: str) -> None:
        if self.progress is not None:
            self.progress(msg)


# ---- a whole run ------------------------------------------------------------------------------
def fresh_model(model: ModelLike) -> Forecaster:
    """A new, unfitted forecaster from a kind, a factory, or the config of another forecaster."""
    if isinstance(model, str):
        from energy.models.kinds import create

        return create(model)
    if isinstance(model, Forecaster):
        return type(model)(model.config)
    return model()


def to_utc(value: str | pd.Timestamp, name: str = "time") -> pd.Timestamp:
    """A backtest boundary as UTC (naive means UTC): :func:`energy.schema.utc_time`."""
    return schema.utc_time(value, name)


def run(
    model: Forecaster,
    view: Dataset,
    origins: pd.DataFrame,
    o: RunOptions,
    *,
    truth: pd.DataFrame,
    seen: pd.DataFrame,
    fit_on: tuple[Dataset, Dataset | None] | None,
) -> BacktestResult:
    """Fit ``model`` on ``fit_on`` (train, val) unless None, forecast ``origins`` from ``view``,
    attach actuals from ``truth`` and score with MASE scales from ``seen`` (training history)."""
    if origins.empty:
        raise ValueError("no origins to forecast: the window holds no complete day-ahead horizon")
    fit_s, last_fit_row = 0.0, str(getattr(model, "train_end_", ""))
    if fit_on is not None:
        train, val = fit_on
        n_val = 0 if val is None else len(val.load)
        o.say(f"fitting {model.kind} on {len(train.load)} rows ({n_val} validation rows)")
        t0 = time.perf_counter()
        model.fit(train, val if n_val else None)
        fit_s = time.perf_counter() - t0
        o.say(f"fitted {model.kind} in {fit_s:.1f} s")
        seen_rows = pd.concat([d.load[schema.TIME] for d in fit_on if d is not None])
        last_fit_row = str(seen_rows.max())
    min_h = model.capabilities.min_history_hours * HOUR
    first = view.load.groupby(schema.CITY)[schema.TIME].min()
    enough = (origins["origin"] - origins[schema.CITY].map(first) >= min_h).to_numpy()
    if not enough.any():
        raise ValueError(f"{model.kind}: no origin has the {min_h} of history the model needs")
    if not enough.all():
        o.say(f"dropping {int((~enough).sum())} origins with less than {min_h} of history")
        origins = origins[enough]
    o.say(f"predicting {len(origins)} origins (horizon {o.horizon} h, strict={o.strict})")
    t0 = time.perf_counter()
    pred = forecast_origins(
        model, view, origins, o.horizon, members=o.members, strict=o.strict, weather=o.weather
    )
    predict_s = time.perf_counter() - t0
    o.say(f"predicted {len(origins)} origins in {predict_s:.1f} s")
    for col in ("origin", schema.TIME):  # base.long_predictions may return object columns
        pred[col] = pd.to_datetime(pred[col], utc=True).astype(truth[schema.TIME].dtype)
    y = truth[[schema.CITY, schema.TIME, schema.LOAD]].rename(columns={schema.LOAD: "y"})
    pred = pred.merge(y, on=[schema.CITY, schema.TIME], how="left")
    lead = [schema.CITY, "origin", schema.TIME, "step", "y", "yhat"]
    lead += [c for c in pred.columns if c.startswith("yhat_")]
    pred = pred[lead + [c for c in pred.columns if c not in lead]]
    pred = pred.sort_values([schema.CITY, "origin", "step"], ignore_index=True)
    name = o.name or model.kind
    s168, s24 = naive_scales(seen), naive_scales(seen, 24)
    info = {
        "kind": model.kind,
        "horizon": o.horizon,
        "n_origins": len(origins),
        "first_origin": str(origins["origin"].min()),
        "last_origin": str(origins["origin"].max()),
        "last_fit_row": last_fit_row,
        "train_cities": list(getattr(model, "train_cities_", [])),
        "strict": o.strict,
        "weather": "actual (ex-post)" if o.weather is None else "supplied forecast",
        "scales": s168,
        "scales24": s24,
        "timezones": view.cities.set_index("city_id")["timezone"].astype(str).to_dict(),
    }
    metrics = metrics_table(pred, s168, s24, name=name)
    return BacktestResult(name, pred, metrics, fit_s, predict_s, info)


def combine(folds: list[tuple[str, BacktestResult]], scheme: str) -> BacktestResult:
    """One result from per-fold results; MASE uses each fold's own training-history scales."""
    preds = [r.predictions.assign(fold=f) for f, r in folds]
    pred = pd.concat(preds, ignore_index=True)
    s168, s24 = (
        pd.concat([r.predictions[schema.CITY].map(r.info[k]) for _, r in folds], ignore_index=True)
        for k in ("scales", "scales24")
    )
    drop = ("scales", "scales24", "timezones")
    per_fold = [
        {"fold": f, **{k: v for k, v in r.info.items() if k not in drop}}
        | {"fit_s": r.fit_s, "predict_s": r.predict_s, "overall": r.overall}
        for f, r in folds
    ]
    first = folds[0][1]
    info = {k: first.info[k] for k in ("kind", "horizon", "strict", "weather", "timezones")}
    info |= {"scheme": scheme, "n_origins": len(pred.drop_duplicates([schema.CITY, "origin"]))}
    metrics = metrics_table(pred, s168, s24, name=first.name)
    fit_s, predict_s = sum(r.fit_s for _, r in folds), sum(r.predict_s for _, r in folds)
    return BacktestResult(first.name, pred, metrics, fit_s, predict_s, info | {"folds": per_fold})
