"""``FeaturePipeline``: fit on training rows, transform any rows of the canonical load table.

Column list (``feature_names_``, in this order; float32 by default, NaN where undefined):

* calendar, local time: ``hour, dow, month`` (plain numbers for trees), ``hour_sin, hour_cos,
  dow_sin, dow_cos, month_sin, month_cos, doy_sin, doy_cos, is_weekend, is_dst``;
* holidays: ``is_holiday, is_bridge_day, days_to_holiday, days_since_holiday``;
* events: ``is_event, event_direction`` and ``event_<kind>`` per kind that occurs in the fit rows;
* weather (columns present at fit): see :func:`energy.features.weather.weather_features`;
* static: ``log_population, log_area_km2, log_density, lat, lon``, ``<name>_missing``,
  ``city_code``;
* load: ``load_lag_{k}h`` and ``load_roll_{stat}_{w}h`` in the target's per-city scaled units.

``transform`` returns ``city_id, timestamp`` (keys, UTC), the features and ``target`` = (load_mw −
city mean) / city std (both over the fit rows) when ``load_mw`` is present; ``inverse_target`` maps
back to MW. Weather, holiday distances and static features are standardised with the fit rows'
mean and std; flags, cyclical terms, codes and load features are left as they are. Lags and rolling
windows only see the rows given, so pass the history along with the rows to predict.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from energy import schema
from energy.features import calendar as cal_mod
from energy.features import events as ev_mod
from energy.features import holidays as hol_mod
from energy.features import lags as lag_mod
from energy.features import static as static_mod
from energy.features import weather as weather_mod
from energy.features.config import FeatureConfig
from energy.features.rows import SortedRows
from energy.features.shared import memo

log = logging.getLogger(__name__)
CONFIG_FILE, STATE_FILE, STATE_VERSION = "feature_config.json", "feature_state.json", 1
# fitted attributes saved as JSON (events_ too, as records with ISO timestamps)
_STATE_KEYS = ("city_ids_", "scale_", "cities_", "calendars_", "notes_", "holiday_years_",
               "weather_columns_", "static_fill_", "static_indicators_", "event_kinds_", "stats_",
               "feature_names_")  # fmt: skip


class FeaturePipeline:
    """Feature engineering for hourly load, fitted on training rows only (scikit-learn style)."""

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config if config is not None else FeatureConfig()

    def fit(
        self, load: pd.DataFrame, cities: pd.DataFrame, events: pd.DataFrame | None = None
    ) -> Self:
        """Learn every data-dependent quantity from the rows of ``load`` (the training rows only).

        Args:
            load: canonical load table (UTC timestamps, MW); only these rows are read.
            cities: cities table covering the cities of ``load``; the default of ``transform``.
            events: events table (UTC); the default of ``transform``.
        """
        rows = SortedRows.of(load)
        cities = schema.validate_cities(cities)
        schema.check_cities_cover(load, cities)
        self.cities_ = {
            r["city_id"]: _jsonable(r) for r in cities.drop(columns="attrs").to_dict("records")
        }
        self.events_ = schema.validate_events(events if events is not None else pd.DataFrame())
        self.city_ids_ = list(rows.city_ids)
        grouped = pd.Series(rows.column(load, schema.LOAD)).groupby(
            rows.per_row(np.arange(len(rows.city_ids)))
        )
        mean, std = grouped.mean().to_numpy(), grouped.std().to_numpy()
        if np.isnan(mean).any():
            city = rows.city_ids[int(np.flatnonzero(np.isnan(mean))[0])]
            raise ValueError(f"city {city!r} has no load values in the fit rows")
        std = np.where(np.isfinite(std) & (std > 1e-9), std, 1.0)
        self.scale_ = {
            c: [float(m), float(s)] for c, m, s in zip(rows.city_ids, mean, std, strict=True)
        }
        cals = [self._calendar(c, self.cities_) for c in rows.city_ids]
        self.calendars_ = {c: _cal_json(k) for c, k in zip(rows.city_ids, cals, strict=True)}
        self.notes_ = [k.note for k in cals if k.note]
        for note in self.notes_:
            log.warning("holidays: %s", note)
        span = np.array([rows.hours.min(), rows.hours.max()]) // 24
        self.holiday_years_ = (
            span.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
        ).tolist()
        self.weather_columns_ = (
            list(weather_mod.present_columns(load)) if self.config.use_weather else []
        )
        raw = static_mod.raw_static(cities.set_index("city_id").loc[rows.city_ids].reset_index())
        self.static_fill_, indicators = static_mod.fit_static(raw)
        self.static_indicators_ = list(indicators)
        self.event_kinds_ = sorted(set(self.events_["kind"]))  # narrowed below to kinds that occur
        self.stats_, self.feature_names_ = {}, []
        occurring: set[str] = set()
        for chunk in self._chunks(rows, load, self.cities_, self.events_):
            for name, v in chunk.items():
                self.feature_names_.append(name)
                if _is_kind(name) and np.any(v > 0):
                    occurring.add(name)
                if self.config.standardize and _standardised(name):
                    ok = np.isfinite(v).any()
                    m, s = (float(np.nanmean(v)), float(np.nanstd(v))) if ok else (0.0, 1.0)
                    self.stats_[name] = [m, s if s > 1e-9 else 1.0]
        self.event_kinds_ = [k for k in self.event_kinds_ if ev_mod.kind_column(k) in occurring]
        self.feature_names_ = [n for n in self.feature_names_ if not _is_kind(n) or n in occurring]
        return self

    # ---- transform -------------------------------------------------------------------------
    def transform(
        self,
        load: pd.DataFrame,
        cities: pd.DataFrame | None = None,
        events: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Features for every row of ``load``, aligned to it (same index, same order).

        Args:
            load: canonical load table; include the history that lags and windows need.
            cities: cities table; None → the one given to ``fit``.
            events: events table; None → the one given to ``fit`` (pass an empty frame for none).

        Returns:
            ``city_id``, ``timestamp`` (UTC), ``feature_names_`` and, when ``load_mw`` is present,
            ``target`` (per-city scaled load), one row per input row.

        Raises:
            ValueError: a city was not seen in fit (unless ``allow_unseen_cities``), or a weather
                column used in fit is missing.
        """
        mat, target = self.matrix(load, cities, events)
        out = pd.DataFrame(mat, index=load.index, columns=self.feature_names_, copy=False)
        out.insert(0, schema.TIME, schema.to_utc(load[schema.TIME], schema.TIME).array)
        out.insert(0, schema.CITY, load[schema.CITY].astype(str).array)
        if target is not None:
            out["target"] = target
        return out

    def matrix(
        self,
        load: pd.DataFrame,
        cities: pd.DataFrame | None = None,
        events: pd.DataFrame | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`transform` as arrays, without building a frame (the forecast path's form).

        Returns:
            ``(n_rows, n_features)`` features (``feature_names_`` order, column-major, the
            config's dtype) and the ``(n_rows,)`` scaled target (None without ``load_mw``),
            both in the row order of ``load``.
        """
        self._check_fitted()
        rows = memo(load, ("rows",), lambda: SortedRows.of(load))
        meta = self.cities_ if cities is None else self._city_meta(cities)
        ev = self.events_ if events is None else schema.validate_events(events)
        missing = [c for c in self.weather_columns_ if c not in load]
        if missing:
            raise ValueError(
                f"load table: weather column {missing[0]!r} was used in fit but is missing"
            )
        dtype = np.dtype(self.config.dtype)
        names = {n: j for j, n in enumerate(self.feature_names_)}
        # (n_rows, n_features) in sorted row order, column-major: the layout of a pandas block,
        # filled a contiguous column at a time, then put in the input's order in one gather
        mat = np.full((len(load), len(names)), np.nan, dtype=dtype, order="F")
        for chunk in self._chunks(rows, load, meta, ev):
            for name, v in chunk.items():
                if name in names:
                    m, s = self.stats_.get(name, (0.0, 1.0))
                    mat[:, names[name]] = (v - m) / s if name in self.stats_ else v
        if not np.array_equal(rows.order, np.arange(len(rows.order))):
            inverse = np.empty_like(rows.order)
            inverse[rows.order] = np.arange(len(rows.order))
            mat = np.asfortranarray(mat[inverse])
        target = None
        if schema.LOAD in load:
            mu, sd = self._scale(rows.city_ids)
            y = (rows.column(load, schema.LOAD) - rows.per_row(mu)) / rows.per_row(sd)
            target = np.empty(len(load), dtype)
            target[rows.order] = y
        return mat, target

    def _city_meta(self, cities: pd.DataFrame) -> dict[str, dict[str, Any]]:
        """Validated per-city metadata; the last table's result is reused when the same object is
        passed again (a server forecasting from one cities table validates it once, not per call).
        The table is kept referenced, so its ``id`` cannot be reused by another object."""
        cached = getattr(self, "_meta_memo", None)
        if cached is not None and cached[0] is cities and cached[1] == len(cities):
            return cached[2]
        meta = {
            r["city_id"]: _jsonable(r) for r in schema.validate_cities(cities).to_dict("records")
        }
        self._meta_memo = (cities, len(cities), meta)
        return meta

    def _chunks(
        self,
        rows: SortedRows,
        load: pd.DataFrame,
        meta: dict[str, dict[str, Any]],
        ev: pd.DataFrame,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Raw features in sorted row order, one family at a time (keeps peak memory low)."""
        cfg, ids, b = self.config, rows.city_ids, rows.bounds
        absent = [c for c in ids if c not in meta]
        if absent:
            raise schema.SchemaError(f"cities table: no row for city_id {absent[0]!r}")
        mu, sd = self._scale(ids)
        cals = [self._calendar(c, meta) for c in ids]
        tz = tuple(str(meta[c]["timezone"]) for c in ids)
        # each family is shared with the other pipelines of a request that ask for the same
        # thing (energy.features.shared); keys name every input besides the frame's rows
        weekend = tuple(tuple(sorted(k.weekend)) for k in cals)
        lt = memo(load, ("local", tz), lambda: cal_mod.local_time(rows.hours, b, tz))
        cal = memo(
            load,
            ("calendar", tz, weekend),
            lambda: cal_mod.calendar_features(lt, b, [k.weekend for k in cals]),
        )
        yield cal if cfg.use_calendar else {}
        if cfg.use_holidays:
            key = ("holidays", tz, tuple(cals), cfg.holiday_clip_days)
            yield memo(load, key, lambda: self._holidays(load, rows, lt, cals))
        if cfg.use_events:
            kinds = tuple(self.event_kinds_)
            ev_key = self._events_key(ev)
            yield memo(
                load,
                ("events", ev_key, kinds),
                lambda: ev_mod.event_features(rows.hours, b, ids, ev, self.event_kinds_),
                share=ev_key is not None,
            )
        grid = memo(
            load, ("grid", cfg.max_reach), lambda: lag_mod.PaddedGrid(b, rows.hours, cfg.max_reach)
        )
        if self.weather_columns_:
            wkey = (
                "weather", tz, weekend, tuple(self.weather_columns_), cfg.hdh_base_c,
                cfg.cdh_base_c, tuple(cfg.temp_lags), tuple(cfg.temp_rolling_windows),
            )  # fmt: skip
            compute = functools.partial(self._weather, load, rows, grid, cal)
            yield memo(load, wkey, compute)
            del compute
        del cal
        if cfg.use_static:
            codes = tuple(
                self.city_ids_.index(c) if c in self.scale_ else len(self.city_ids_) for c in ids
            )
            skey = ("static", codes, self._state_key(), _meta_key(meta, ids))
            yield memo(load, skey, lambda: static_mod.static_features(
                static_mod.raw_static(pd.DataFrame([{"city_id": c, **meta[c]} for c in ids])),
                b, self.static_fill_, self.static_indicators_, list(codes),
            ))  # fmt: skip
        lkey = ("lags", tuple(mu), tuple(sd), cfg.horizon, tuple(cfg.lags or ()),
                tuple(cfg.rolling_windows), tuple(cfg.rolling_stats))  # fmt: skip

        def lags() -> dict[str, np.ndarray]:
            y = (rows.column(load, schema.LOAD) - rows.per_row(mu)) / rows.per_row(sd)
            return lag_mod.load_lag_features(
                grid, y, horizon=cfg.horizon, lags=cfg.lags or (), windows=cfg.rolling_windows,
                stats=cfg.rolling_stats,
            )  # fmt: skip

        yield memo(load, lkey, lags)

    def _holidays(
        self,
        load: pd.DataFrame,
        rows: SortedRows,
        lt: cal_mod.LocalTime,
        cals: list[hol_mod.HolidayCalendar],
    ) -> dict[str, np.ndarray]:
        sup = None
        if schema.HOLIDAY in load:
            sup = load[schema.HOLIDAY].astype("boolean").fillna(False).to_numpy(bool)[rows.order]
        return hol_mod.holiday_features(
            lt.days, rows.bounds, cals, sup, self.config.holiday_clip_days
        )

    def _weather(
        self,
        load: pd.DataFrame,
        rows: SortedRows,
        grid: lag_mod.PaddedGrid,
        cal: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        cfg = self.config
        return weather_mod.weather_features(
            grid, {c: rows.column(load, c) for c in self.weather_columns_}, cal,
            hdh_base_c=cfg.hdh_base_c, cdh_base_c=cfg.cdh_base_c, temp_lags=cfg.temp_lags,
            temp_windows=cfg.temp_rolling_windows,
        )  # fmt: skip

    def _events_key(self, ev: pd.DataFrame) -> Hashable | None:
        """The fitted events table's content as a key (None for another table: not shared)."""
        if ev is not self.events_:
            return None
        key = getattr(self, "_events_fp", None)
        if key is None:
            key = self._events_fp = self.events_.to_json(date_format="iso")
        return key

    def _state_key(self) -> str:
        """The fitted static-feature state as a key (computed once per pipeline)."""
        key = getattr(self, "_static_fp", None)
        if key is None:
            state = [self.static_fill_, self.static_indicators_, self.city_ids_]
            key = self._static_fp = json.dumps(state, sort_keys=True)
        return key

    # ---- target scale ----------------------------------------------------------------------
    def _scale(self, city_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per-city (mean, std) of load in MW; median over fit cities for allowed unseen cities."""
        unseen = [c for c in city_ids if c not in self.scale_]
        if unseen and not self.config.allow_unseen_cities:
            raise ValueError(
                f"city {unseen[0]!r} was not seen in fit, so it has no load scale; fit on rows "
                f"that include it, or set FeatureConfig(allow_unseen_cities=True) to give unseen "
                f"cities the median scale of the {len(self.scale_)} fit cities (cold start)"
            )
        fallback = np.median(np.array(list(self.scale_.values())), axis=0)
        pairs = np.array([self.scale_.get(c, fallback) for c in city_ids], np.float64).reshape(
            -1, 2
        )
        return pairs[:, 0], pairs[:, 1]

    def inverse_target(self, city_ids: Any, values: Any) -> np.ndarray:
        """Scaled predictions → MW.

        Args:
            city_ids: ``(n,)`` city of each prediction.
            values: ``(n,)`` or ``(n, horizon)`` predictions in target units.

        Returns:
            Same shape as ``values``, in MW.
        """
        self._check_fitted()
        ids = np.asarray(city_ids, dtype=str).reshape(-1)
        uniq, inv = np.unique(ids, return_inverse=True)
        mu, sd = self._scale(uniq.tolist())
        v = np.asarray(values, np.float64)
        shape = (len(ids),) + (1,) * (v.ndim - 1)
        return v * sd[inv].reshape(shape) + mu[inv].reshape(shape)

    def _calendar(self, city_id: str, meta: dict[str, dict[str, Any]]) -> hol_mod.HolidayCalendar:
        m = meta[city_id]
        return hol_mod.resolve_calendar(city_id, str(m["country"]), str(m["subdivision"] or ""))

    # ---- persistence -----------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the config and the fitted state as JSON into directory ``path``."""
        self._check_fitted()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        (p / CONFIG_FILE).write_text(self.config.model_dump_json(indent=2) + "\n")
        state = {k: getattr(self, k) for k in _STATE_KEYS}
        ev = self.events_.assign(
            start=self.events_["start"].map(_iso), end=self.events_["end"].map(_iso)
        )
        state.update(version=STATE_VERSION, events_=ev.to_dict("records"))
        (p / STATE_FILE).write_text(json.dumps(state, indent=1, allow_nan=False) + "\n")
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeaturePipeline:
        """Rebuild a fitted pipeline written by :meth:`save`."""
        p = Path(path)
        pipe = cls(FeatureConfig.model_validate_json((p / CONFIG_FILE).read_text()))
        state = json.loads((p / STATE_FILE).read_text())
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"{p / STATE_FILE}: state version {state.get('version')}, expected {STATE_VERSION}"
            )
        for k in _STATE_KEYS:
            setattr(pipe, k, state[k])
        pipe.events_ = schema.validate_events(pd.DataFrame(state["events_"]))
        return pipe

    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_names_"):
            raise RuntimeError("FeaturePipeline is not fitted: call fit(load, cities) first")


def _standardised(name: str) -> bool:
    """Continuous features without a natural scale: weather, holiday distances, static numbers."""
    if name in static_mod.STATIC_BASE or name.startswith("days_"):
        return True
    return weather_mod.is_weather_feature(name)


def _is_kind(name: str) -> bool:
    return name.startswith(ev_mod.EVENT_PREFIX) and name != "event_direction"


def _meta_key(meta: dict[str, dict[str, Any]], ids: list[str]) -> str:
    return json.dumps([meta[c] for c in ids], sort_keys=True, default=str)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("country", "subdivision", "timezone", "lat", "lon", "population", "area_km2")
    return {k: (None if isinstance(row[k], float) and np.isnan(row[k]) else row[k]) for k in keep}


def _cal_json(cal: hol_mod.HolidayCalendar) -> dict[str, Any]:
    return {"country": cal.country, "subdivision": cal.subdivision,
            "weekend": sorted(cal.weekend), "note": cal.note}  # fmt: skip


def _iso(t: pd.Timestamp) -> str:
    return pd.Timestamp(t).isoformat()
