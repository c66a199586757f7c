"""A model package: a trained forecaster plus what answering a forecast request needs.

``energy train`` writes one; the registry stores it as an MLflow model (energy.tracking) and the
Serve app and batch jobs load it. No Ray and no MLflow here: a package is a plain directory::

    DIR/model/            the forecaster (Forecaster.save layout; members under model/members/)
    DIR/history.parquet   the last ``history_hours`` of canonical load rows per city (UTC, MW)
    DIR/cities.parquet    cities table (time zones, static features)
    DIR/events.parquet    special events, when the data set has any
    DIR/package.json      kind, config, trained-at, train end, history end, data hash, cities,
                          horizon, metrics, package versions

A forecast from ``start`` uses stored loads before ``start`` (or loads the caller sends in
``history``, which override stored ones hour by hour) and weather over the horizon from the caller
(``weather``) or the model's climatology, reported per city in ``weather_source``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from energy import schema
from energy.data.dataset import Dataset
from energy.models.base import (
    MAX_HORIZON,
    Forecaster,
    check_horizon,
    long_predictions,
    package_versions,
)

PACKAGE_FILE = "package.json"
MODEL_DIR = "model"
HOUR = pd.Timedelta(hours=1)


class UnknownCityError(KeyError):
    """A city the package holds no model or history for (the API answers 404)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown city"


class ModelPackage:
    """A loaded package. ``forecast`` is safe to call from many threads (read-only state)."""

    def __init__(self, model: Forecaster, history: Dataset, meta: dict[str, Any]) -> None:
        self.model = model
        self.history = history
        self.meta = meta
        self.path: Path | None = None
        load = history.load
        self._by_city = {
            str(c): g.reset_index(drop=True) for c, g in load.groupby(schema.CITY, sort=True)
        }
        known = load[load[schema.LOAD].notna()]
        self._last_load = known.groupby(schema.CITY)[schema.TIME].max().to_dict()

    @property
    def cities(self) -> list[str]:
        return sorted(self._by_city)

    @property
    def members(self) -> list[str]:
        """Member names of an ensemble (``yhat_<name>`` columns), else empty."""
        return list(getattr(self.model, "members_", {}))

    def last_load_time(self, city_id: str) -> pd.Timestamp:
        """UTC hour of the last stored load of a city."""
        self._check_city(city_id)
        return pd.Timestamp(self._last_load[city_id])

    def forecast(
        self,
        city_ids: list[str],
        *,
        start: pd.Timestamp | str | None = None,
        horizon: int = 24,
        weather: pd.DataFrame | None = None,
        history: pd.DataFrame | None = None,
        members: bool = False,
    ) -> pd.DataFrame:
        """Hourly forecasts in MW for each city from ``start`` (UTC; default: the hour after the
        city's last known load).

        Args:
            city_ids: cities to forecast (each must be in :attr:`cities`).
            start: first forecast hour, any ISO 8601 form with an offset (naive = UTC).
            horizon: hours to forecast, 1..168.
            weather: ``city_id``, ``timestamp`` and weather columns (e.g. ``temperature_c``) for
                every forecast hour of a city; cities left out use climatology.
            history: ``city_id``, ``timestamp``, ``load_mw`` (and optionally weather) of recent
                hours; they replace stored rows at the same hours and extend the history.
            members: also return each ensemble member's forecast as ``yhat_<name>``.

        Returns:
            One row per city and hour: ``city_id``, ``timestamp``, ``step``, ``yhat``,
            ``weather_source`` (+ ``yhat_<member>``).
        """
        if not city_ids:
            raise ValueError("city_id: no city given")
        for c in city_ids:
            self._check_city(c)
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)):
            raise ValueError(
                f"horizon_hours: must be an integer in 1..{MAX_HORIZON}, got {horizon!r}"
            )
        try:
            horizon = check_horizon(horizon)
        except ValueError:
            raise ValueError(
                f"horizon_hours: must be in 1..{MAX_HORIZON}, got {horizon!r}"
            ) from None
        cities = list(dict.fromkeys(city_ids))
        load = self._history_frame(cities, history)
        origins = self._origins(cities, load, start)
        exog = self._weather(cities, origins, horizon, weather)
        model = self.model
        load = self._needed_rows(load, origins)
        frame, source = model._forecast_frame(load, self.history.cities, origins, horizon, exog)
        if not (members and self.members):
            out = model.predict_origins(
                frame, self.history.cities, origins, horizon, weather_source=source
            )
            return out.drop(columns=["origin"])
        # members too: run each member once and combine here (the ensemble's own formula)
        preds = model.member_predictions(frame, self.history.cities, origins, horizon)  # type: ignore[attr-defined]
        yhat = np.einsum(
            "mnh,hm->nh",
            np.stack(list(preds.values())),
            model.step_weights(horizon),  # type: ignore[attr-defined]
        )
        out = long_predictions(origins, yhat, source, model.capabilities).drop(columns=["origin"])
        for name, y in preds.items():
            out[f"yhat_{name}"] = y.reshape(-1)
        return out

    def _needed_rows(self, load: pd.DataFrame, origins: pd.DataFrame) -> pd.DataFrame:
        """Only the history each origin can use (what the model needs, plus a day): features are
        computed over these rows, so a short frame is most of the speed of a request."""
        reach = (self.model.capabilities.min_history_hours + 24) * HOUR
        start = dict(zip(origins[schema.CITY], origins["origin"] - reach, strict=True))
        first = load[schema.CITY].map(start)
        return load[load[schema.TIME] >= first].reset_index(drop=True)

    def update_meta(self, **values: Any) -> None:
        """Merge ``values`` into package.json (e.g. backtest metrics)."""
        self.meta.update(values)
        if self.path is not None:
            _write_meta(self.path, self.meta)

    # ---- request checks -----------------------------------------------------------------------
    def _check_city(self, city_id: str) -> None:
        if city_id not in self._by_city:
            shown = ", ".join(self.cities[:10]) + (" ..." if len(self.cities) > 10 else "")
            raise UnknownCityError(f"city_id: unknown city {city_id!r} (have {shown})")

    def _history_frame(self, cities: list[str], history: pd.DataFrame | None) -> pd.DataFrame:
        stored = pd.concat([self._by_city[c] for c in cities], ignore_index=True)
        if history is None or len(history) == 0:
            return stored
        try:
            given = schema.validate_load(history, allow_missing_load=False)
        except schema.SchemaError as e:
            raise ValueError(f"history: {e}") from None
        other = sorted(set(given[schema.CITY]) - set(cities))
        if other:
            raise ValueError(f"history: city_id {other[0]!r} is not among the requested cities")
        dup = given.duplicated([schema.CITY, schema.TIME])
        if dup.any():
            row = given[dup].iloc[0]
            raise ValueError(
                f"history: duplicate hour {row[schema.TIME].isoformat()} for {row[schema.CITY]!r}"
            )
        merged = stored.set_index([schema.CITY, schema.TIME])
        upd = given.set_index([schema.CITY, schema.TIME])
        new_idx = upd.index.difference(merged.index)
        merged = merged.reindex(merged.index.append(new_idx))
        cols = [c for c in upd.columns if c in merged.columns and upd[c].notna().any()]
        merged.loc[upd.index, cols] = upd[cols].to_numpy()
        out = merged.reset_index().sort_values([schema.CITY, schema.TIME], ignore_index=True)
        self._fill_weather(out)
        return out

    def _fill_weather(self, load: pd.DataFrame) -> None:
        """Hours the caller added without weather get climatology (as forecast hours would)."""
        weather = [c for c in schema.WEATHER_COLUMNS if c in load.columns]
        if not weather:
            return
        missing = load[weather].isna().any(axis=1)
        for city in load.loc[missing, schema.CITY].unique():
            rows = missing & (load[schema.CITY] == city)
            tz = self.history.timezone_of(city)
            clim = self.model.climatology_.lookup(
                city, pd.DatetimeIndex(load.loc[rows, schema.TIME]), tz
            )
            for col in weather:
                vals = clim[col].to_numpy() if col in clim else np.full(rows.sum(), np.nan)
                cur = load.loc[rows, col].to_numpy(dtype=np.float64, na_value=np.nan)
                load.loc[rows, col] = np.where(np.isnan(cur), vals, cur)

    def _origins(
        self, cities: list[str], load: pd.DataFrame, start: pd.Timestamp | str | None
    ) -> pd.DataFrame:
        known = load[load[schema.LOAD].notna()]
        last = known.groupby(schema.CITY)[schema.TIME].max()
        first = load.groupby(schema.CITY)[schema.TIME].min()
        need = self.model.capabilities.min_history_hours
        origins = []
        for c in cities:
            if start is None:
                o = last[c] + HOUR
            else:
                o = parse_start(start)
                if o > last[c] + HOUR:
                    raise ValueError(
                        f"start: {o.isoformat()} is after the hour following the last known load "
                        f"of {c!r} ({last[c].isoformat()}); send the loads in between in `history`"
                    )
            if o - need * HOUR < first[c]:
                raise ValueError(
                    f"start: {o.isoformat()} leaves less than the {need} h of history the model "
                    f"needs for {c!r} (history starts {first[c].isoformat()})"
                )
            origins.append((c, o))
        return pd.DataFrame(origins, columns=[schema.CITY, "origin"])

    def _weather(
        self,
        cities: list[str],
        origins: pd.DataFrame,
        horizon: int,
        weather: pd.DataFrame | None,
    ) -> pd.DataFrame | None:
        if weather is None or len(weather) == 0:
            return None
        try:
            ex = schema.validate_load(
                weather.assign(**{schema.LOAD: np.nan}), allow_missing_load=True
            )
        except schema.SchemaError as e:
            raise ValueError(f"weather: {e}") from None
        have = [c for c in schema.WEATHER_COLUMNS if c in ex.columns]
        used = [c for c in schema.WEATHER_COLUMNS if c in self.history.load.columns]
        if not have:
            raise ValueError(
                f"weather: no weather column (expected one of {', '.join(used or ['none'])})"
            )
        unused = [c for c in have if c not in used]
        if unused:
            raise ValueError(
                f"weather: {unused[0]!r} is not an input of this model "
                f"(it uses {', '.join(used) or 'no weather'})"
            )
        for c, o in origins.itertuples(index=False):
            rows = ex[ex[schema.CITY] == c]
            if rows.empty:
                continue
            hours = pd.date_range(o, periods=horizon, freq="h")
            got = rows.set_index(schema.TIME).reindex(hours)[have]
            if got.isna().any().any():
                gap = got.index[got.isna().any(axis=1)][0]
                raise ValueError(
                    f"weather: {c!r} has no value at {gap.isoformat()}; supply every hour of the "
                    f"horizon ({hours[0].isoformat()} .. {hours[-1].isoformat()}) or none"
                )
        other = sorted(set(ex[schema.CITY]) - set(cities))
        if other:
            raise ValueError(f"weather: city_id {other[0]!r} is not among the requested cities")
        # columns the caller did not send (e.g. dew point) come from climatology
        for col in (c for c in used if c not in have):
            ex[col] = np.nan
        self._fill_weather(ex)
        return ex


def parse_start(value: pd.Timestamp | str) -> pd.Timestamp:
    """``start`` → UTC hour. Naive times are UTC; times off the hour are an error."""
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"start: cannot read {value!r} as an ISO 8601 time") from None
    if t is pd.NaT:
        raise ValueError(f"start: cannot read {value!r} as an ISO 8601 time")
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    if t != t.floor("h"):
        raise ValueError(f"start: {value!r} is not on the hour (hour-beginning forecasts)")
    return t


def write_package(
    model: Forecaster,
    data: Dataset,
    out: str | os.PathLike[str],
    *,
    meta: dict[str, Any] | None = None,
    history_hours: int | None = None,
) -> Path:
    """Save ``model`` and the recent history of ``data`` (its last ``history_hours`` per city;
    default: what the model needs plus a week) as a package under ``out``."""
    p = Path(out)
    model.save(p / MODEL_DIR)
    need = model.capabilities.min_history_hours + 168
    hours = max(int(history_hours or 0), need)
    load = data.load
    end = load.groupby(schema.CITY)[schema.TIME].transform("max")
    recent = load[load[schema.TIME] > end - hours * HOUR].reset_index(drop=True)
    recent.to_parquet(p / "history.parquet", index=False)
    data.cities.to_parquet(p / "cities.parquet", index=False)
    if len(data.events):
        data.events.to_parquet(p / "events.parquet", index=False)
    info = {
        "kind": model.kind,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_end": getattr(model, "train_end_", None),
        "history_end": str(load[schema.TIME].max()),
        "history_hours": hours,
        "data_hash": data.manifest.get("content_hash"),
        "cities": sorted(load[schema.CITY].unique().tolist()),
        "horizon": getattr(model.config, "horizon", 24),
        "members": list(getattr(model, "members_", {})),
        "metrics": {},
        "versions": package_versions(),
        **(meta or {}),
    }
    _write_meta(p, info)
    return p


def read_package(path: str | os.PathLike[str]) -> ModelPackage:
    """Load a package written by :func:`write_package`."""
    p = Path(path)
    if not (p / PACKAGE_FILE).is_file():
        raise FileNotFoundError(f"model package: {str(p)!r} has no {PACKAGE_FILE}")
    meta = json.loads((p / PACKAGE_FILE).read_text())
    model = Forecaster.load(p / MODEL_DIR)
    load = schema.validate_load(pd.read_parquet(p / "history.parquet"), allow_missing_load=True)
    cities = pd.read_parquet(p / "cities.parquet")
    events_file = p / "events.parquet"
    history = Dataset(load=load, cities=cities)
    if events_file.is_file():
        history.events = pd.read_parquet(events_file)
    pkg = ModelPackage(model, history, meta)
    pkg.path = p
    return pkg


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    (path / PACKAGE_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
