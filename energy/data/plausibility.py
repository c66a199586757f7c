"""Plausibility of an import: a bounded time range, bounded gaps and physically plausible loads.

A typo in one timestamp (2300 for 2030) used to make cleaning fill millions of absent hours, and a
load of 1e300 MW went through as data. The checks here run before the hourly grid is built:

* every timestamp lies in ``[earliest, latest)`` (UTC), else a :class:`SchemaError` naming the
  city, the timestamp and the setting;
* no gap between two rows of a city is longer than ``max_gap_hours``, else the same kind of error;
* loads (MW) above a city's upper bound — ``max_load_ratio`` times the city's median load, never
  above ``max_load_mw`` — or outside the city's explicit ``load_bounds_mw`` are *implausible*:
  cleaning masks them (quality ``implausible``, raw value kept) and reports them; negative loads
  are masked as ``negative``. When more than ``max_implausible_share`` of a city's loads are
  either, the file is mostly wrong (a unit or a column mix-up) and the import fails.

Settings live in :class:`energy.data.cleaning_config.CleaningConfig` (the ``--cleaning`` YAML).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from energy import schema
from energy.data.cleaning_config import CleaningConfig

_HINT = "in the --cleaning policy"


def check_span(df: pd.DataFrame, cfg: CleaningConfig) -> None:
    """Fail on a timestamp outside ``[earliest, latest)`` or a gap over ``max_gap_hours``.

    Args:
        df: load table sorted by (city_id, timestamp), ``timestamp`` tz-aware UTC.

    Raises:
        SchemaError: naming the city, the timestamp(s) and the setting.
    """
    t = df[schema.TIME]
    lo, hi = pd.Timestamp(cfg.earliest, tz="UTC"), pd.Timestamp(cfg.latest, tz="UTC")
    for bad, setting, side in ((t < lo, "earliest", "before"), (t >= hi, "latest", "on or after")):
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise schema.SchemaError(
                f"city {df[schema.CITY].iloc[i]!r}, timestamp {t.iloc[i]}: is {side} {setting}="
                f"{getattr(cfg, setting)} (a typo in the year? if the time is real, change "
                f"{setting} {_HINT})"
            )
    hours = t.dt.tz_localize(None).to_numpy("datetime64[h]").astype(np.int64)
    city = df[schema.CITY].to_numpy()
    absent = np.diff(hours) - 1
    too_long = (absent > cfg.max_gap_hours) & (city[1:] == city[:-1])
    if too_long.any():
        i = int(np.flatnonzero(too_long)[0])
        raise schema.SchemaError(
            f"city {city[i]!r}: {absent[i]:,} absent hours between timestamps {t.iloc[i]} and "
            f"{t.iloc[i + 1]}, more than max_gap_hours={cfg.max_gap_hours} (a typo in a "
            f"timestamp? if the gap is real, raise max_gap_hours {_HINT})"
        )


def load_bounds(raw: np.ndarray, city: str, cfg: CleaningConfig) -> tuple[float, float]:
    """The plausible load range ``(low, high)`` in MW for one city.

    Args:
        raw: the city's loads as given (MW), NaN where absent or missing.  # (n_hours,)
    """
    if city in cfg.load_bounds_mw:
        low, high = cfg.load_bounds_mw[city]
        return float(low), float(high)
    ok = raw[np.isfinite(raw) & (raw > 0) & (raw <= cfg.max_load_mw)]
    high = cfg.max_load_mw
    if len(ok):
        high = min(high, cfg.max_load_ratio * float(np.median(ok)))
    return 0.0, float(high)


def implausible_loads(
    raw: np.ndarray, times: pd.Series, city: str, cfg: CleaningConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """Loads of one city outside its plausible range.

    Negative loads keep cleaning's own ``negative`` code (and ``negative_policy``), exact zeros
    ``zero``; negatives count towards ``max_implausible_share`` all the same.

    Args:
        raw: the city's loads as given (MW), NaN where absent or missing.  # (n_hours,)
        times: UTC timestamps of the same hours.  # (n_hours,)

    Returns:
        A bool mask of implausible hours and the city's report entries ``{"implausible": count,
        "load_bounds_mw": [low, high], "implausible_first": {"timestamp", "load_mw"} or None}``.

    Raises:
        SchemaError: more than ``max_implausible_share`` of the city's loads are implausible.
    """
    low, high = load_bounds(raw, city, cfg)
    with np.errstate(invalid="ignore"):
        bad = (raw > high) | ((raw < low) & (raw > 0))
        wrong = bad | (raw < 0)  # negatives keep their own code but count as implausible here
    n, given = int(bad.sum()), int((~np.isnan(raw)).sum())
    first = None
    if n:
        i = int(np.flatnonzero(bad)[0])
        first = {"timestamp": times.iloc[i].isoformat(), "load_mw": float(raw[i])}
    n_wrong = int(wrong.sum())
    if n_wrong and n_wrong > cfg.max_implausible_share * given:
        i = int(np.flatnonzero(wrong)[0])
        why = "negative" if raw[i] < 0 else "above" if raw[i] > high else "below"
        raise schema.SchemaError(
            f"city {city!r}: {n_wrong:,} of {given:,} loads ({100 * n_wrong / given:.1f} %) are "
            f"implausible (negative or outside [{low:.6g}, {high:.6g}] MW), e.g. {raw[i]:.6g} MW "
            f"({why}) at {times.iloc[i]}; the file looks mostly wrong (wrong unit or column?): "
            f"more than max_implausible_share={cfg.max_implausible_share} (change it or "
            f"load_bounds_mw {_HINT})"
        )
    return bad, {"implausible": n, "load_bounds_mw": [low, high], "implausible_first": first}
