"""The one forecast path: a :class:`~energy.forecast.query.ForecastQuery` answered from a loaded
:class:`~energy.forecast.package.ModelPackage`.

:func:`forecast` is what every caller uses: the Serve replica (``serve_app.service``), the MLflow
pyfunc (``energy.tracking.pyfunc_model``, through :func:`forecast_table`, which a CLI command or
batch job over a request file calls too) and :meth:`ModelPackage.forecast`. Its
steps: check the query against the package (known cities, the package's longest horizon, enough
history, usable weather) → merge the caller's history into the stored one → origins → the
forecast frame (history plus the horizon's weather: supplied or climatology) → :func:`predict`.
:func:`predict` is the last step alone (a model, a frame, origins → the long forecast table, with
members' forecasts when asked), shared with backtests, which bring their own frames.

Every refusal is a typed error of :mod:`energy.forecast.errors` naming the field and the value.
Times are UTC, hour-beginning; forecasts in MW.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from energy import schema
from energy.features.shared import shared_features
from energy.forecast.errors import ForecastInputError, ModelUnavailableError
from energy.forecast.query import ForecastQuery, queries_from_table
from energy.models._frame import utc_hours
from energy.models.base import Forecaster, long_predictions

if TYPE_CHECKING:
    from energy.forecast.package import ModelPackage


@runtime_checkable
class MemberModel(Protocol):
    """A model made of members (the ensemble, or any model that says so): each member's forecasts
    and the rule that combines them, so that members and the combination come from one run."""

    def member_predictions(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> dict[str, np.ndarray]: ...

    def combine(self, member_preds: dict[str, np.ndarray]) -> np.ndarray: ...


HOUR = pd.Timedelta(hours=1)


def forecast(package: ModelPackage, query: ForecastQuery) -> pd.DataFrame:
    """Hourly forecasts in MW for each city of ``query``.

    Returns:
        One row per city (in the query's order) and hour: ``city_id``, ``timestamp`` (UTC),
        ``step`` (1-based), ``yhat`` (MW), ``weather_source`` (``supplied``, ``climatology`` or
        ``none``), and ``yhat_<member>`` per ensemble member when ``query.members``.

    Raises:
        UnknownCityError: a city the package does not hold.
        ForecastInputError: a horizon past :attr:`ModelPackage.max_horizon`, a start the stored
            and sent history cannot support, weather the model cannot use.
        ModelUnavailableError: the model answered NaN or infinity (it is broken, not the query).
    """
    cities = list(query.city_ids)
    for c in cities:
        package.check_city(c)
    horizon = query.horizon_hours
    if horizon > package.max_horizon:
        raise ForecastInputError(
            "horizon_hours",
            horizon,
            f"must be in 1..{package.max_horizon} for this model (the longest horizon it was "
            f"trained for), got {horizon}",
        )
    load = _history(package, cities, query.history)
    origins = _origins(package, cities, load, query.start, stored=query.history is None)
    exog = _weather(package, origins, horizon, query.weather)
    load = _needed_rows(package.model, load, origins)
    model, table = package.model, package.history.cities
    frame, source = model._forecast_frame(load, table, origins, horizon, exog)
    with shared_features():  # one feature pass per request, shared by the members' pipelines
        out = predict(model, frame, table, origins, horizon, members=query.members, source=source)
    _check_finite(out)
    return out.drop(columns=["origin"])


def _check_finite(out: pd.DataFrame) -> None:
    """A NaN or infinite forecast is never returned as a number (JSON would carry ``null``).

    Every input was accepted, so the model itself cannot answer (NaN weights, a numeric
    overflow): a :class:`ModelUnavailableError` (503), naming the cities, never a 422.
    """
    cols = [c for c in out.columns if c == "yhat" or c.startswith("yhat_")]
    bad = ~np.isfinite(out[cols].to_numpy(np.float64)).all(axis=1)
    if bad.any():
        cities = sorted(set(out.loc[bad, schema.CITY].astype(str)))
        raise ModelUnavailableError(
            f"the model returned non-finite forecasts for {', '.join(cities)} "
            f"({int(bad.sum())} of {len(out)} hours): it cannot answer; it needs retraining"
        )


def forecast_table(
    package: ModelPackage, table: pd.DataFrame, *, members: bool = False
) -> pd.DataFrame:
    """Forecasts for a request table (see :func:`~energy.forecast.query.queries_from_table`):
    the MLflow pyfunc's ``predict``, and what a CLI command or batch job over a file calls.

    Returns:
        The :func:`forecast` tables of the table's queries, one after another.
    """
    queries = queries_from_table(table, members=members)
    return pd.concat([forecast(package, q) for q in queries], ignore_index=True)


def predict(
    model: Forecaster,
    frame: pd.DataFrame,
    cities: pd.DataFrame,
    origins: pd.DataFrame,
    horizon: int,
    *,
    members: bool = False,
    source: str | pd.Series = "supplied",
) -> pd.DataFrame:
    """Forecasts of ``model`` from every origin, members too when asked (one run of each).

    Args:
        model: a fitted forecaster.
        frame: canonical rows: each origin's history and its ``horizon`` hours with weather.
        cities: cities table of the frame's cities.
        origins: ``city_id``, ``origin`` (UTC), one row per forecast.
        horizon: hours per origin.
        members: add ``yhat_<member>`` columns when ``model`` is an ensemble.
        source: weather source of all origins, or one per origin (aligned with ``origins``).

    Returns:
        :data:`energy.models.base.PREDICTION_COLUMNS` (+ ``yhat_<member>``), origin-major.
    """
    if not (members and isinstance(model, MemberModel)):
        return model.predict_origins(frame, cities, origins, horizon, weather_source=source)
    origins = origins[[schema.CITY, "origin"]].reset_index(drop=True)
    preds = model.member_predictions(frame, cities, origins, horizon)
    for name, y in preds.items():
        if y.shape != (len(origins), horizon):
            raise RuntimeError(
                f"member {name!r}: forecast shape {y.shape}, expected {(len(origins), horizon)}"
            )
    out = long_predictions(origins, model.combine(preds), source, model.capabilities)
    for name, y in preds.items():
        out[f"yhat_{name}"] = y.reshape(-1)
    return out


# ---- steps --------------------------------------------------------------------------------------
def _history(
    package: ModelPackage, cities: list[str], history: pd.DataFrame | None
) -> pd.DataFrame:
    """Stored rows of ``cities`` with the caller's rows replacing or extending them."""
    stored = package.stored_rows(cities)
    if history is None:
        return stored
    merged = stored.set_index([schema.CITY, schema.TIME])
    upd = history.set_index([schema.CITY, schema.TIME])
    new_idx = upd.index.difference(merged.index)
    merged = merged.reindex(merged.index.append(new_idx))
    cols = [c for c in upd.columns if c in merged.columns and upd[c].notna().any()]
    merged.loc[upd.index, cols] = upd[cols].to_numpy()
    out = merged.reset_index().sort_values([schema.CITY, schema.TIME], ignore_index=True)
    # hours the caller added without weather get climatology, as forecast hours would
    return package.model.climatology_.fill(out, package.timezones)


def _origins(
    package: ModelPackage,
    cities: list[str],
    load: pd.DataFrame,
    start: pd.Timestamp | None,
    *,
    stored: bool = False,
) -> pd.DataFrame:
    """``city_id``, ``origin``: ``start``, or the hour after each city's last known load
    (``stored``: ``load`` is the package's own rows, whose span the package knows)."""
    last: Any
    first: Any
    if stored:
        last, first = package.load_span()
    else:
        known = load[load[schema.LOAD].notna()]
        last = known.groupby(schema.CITY)[schema.TIME].max()
        first = load.groupby(schema.CITY)[schema.TIME].min()
    need = package.model.capabilities.min_history_hours
    origins = []
    for c in cities:
        o = last[c] + HOUR if start is None else start
        if o > last[c] + HOUR:
            raise ForecastInputError(
                "start",
                o.isoformat(),
                f"{o.isoformat()} is after the hour following the last known load of {c!r} "
                f"({last[c].isoformat()}); send the loads in between in `history`",
            )
        if o - need * HOUR < first[c]:
            raise ForecastInputError(
                "start",
                o.isoformat(),
                f"{o.isoformat()} leaves less than the {need} h of history the model needs for "
                f"{c!r} (history starts {first[c].isoformat()})",
            )
        origins.append((c, o))
    return pd.DataFrame(origins, columns=[schema.CITY, "origin"])


def _weather(
    package: ModelPackage, origins: pd.DataFrame, horizon: int, weather: pd.DataFrame | None
) -> pd.DataFrame | None:
    """The caller's weather checked against the model, with columns it left out from
    climatology; None when none was sent (the model then uses climatology)."""
    if weather is None:
        return None
    have = [c for c in schema.WEATHER_COLUMNS if c in weather.columns]
    used = [c for c in schema.WEATHER_COLUMNS if c in package.history.load.columns]
    if not have:
        expected = ", ".join(used or ["none"])
        raise ForecastInputError("weather", None, f"no weather column (expected one of {expected})")
    unused = [c for c in have if c not in used]
    if unused:
        raise ForecastInputError(
            "weather",
            None,
            f"{unused[0]!r} is not an input of this model "
            f"(it uses {', '.join(used) or 'no weather'})",
        )
    for c, o in origins.itertuples(index=False):
        rows = weather[weather[schema.CITY] == c]
        if rows.empty:
            continue
        hours = pd.date_range(o, periods=horizon, freq="h")
        got = rows.set_index(schema.TIME).reindex(hours)[have]
        if got.isna().any().any():
            gap = got.index[got.isna().any(axis=1)][0]
            raise ForecastInputError(
                "weather",
                None,
                f"{c!r} has no value at {gap.isoformat()}; supply every hour of the horizon "
                f"({hours[0].isoformat()} .. {hours[-1].isoformat()}) or none",
            )
    # columns the caller did not send (e.g. dew point) come from climatology
    ex = weather.assign(**{col: np.nan for col in used if col not in have})
    return package.model.climatology_.fill(ex, package.timezones)


def _needed_rows(model: Forecaster, load: pd.DataFrame, origins: pd.DataFrame) -> pd.DataFrame:
    """Only the history each origin can use (what the model needs, plus a day): features are
    computed over these rows, so a short frame is most of the speed of a request."""
    reach = model.capabilities.min_history_hours + 24
    first = utc_hours(origins["origin"]) - reach  # (n_origins,) first hour each city can use
    codes = pd.Index(origins[schema.CITY].astype(str)).get_indexer(load[schema.CITY])
    keep = (codes >= 0) & (utc_hours(load[schema.TIME]) >= np.where(codes >= 0, first[codes], 0))
    return load[keep].reset_index(drop=True)
