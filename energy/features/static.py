"""Static (per-city) covariates from the cities table, broadcast to every hour of the city.

Population and area enter as logs (``log1p``, persons and km²), density as ``log1p(persons / km²)``,
latitude and longitude in degrees. A value the cities table does not know (NaN) is filled with the
median over the fit cities and flagged in ``<feature>_missing`` (added for every feature that had a
missing value among the fit cities). ``city_code`` numbers the fit cities 0..n-1 (sorted ids); an
unseen city gets ``n``, so an embedding table for global models needs ``n + 1`` rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

STATIC_BASE: tuple[str, ...] = ("log_population", "log_area_km2", "log_density", "lat", "lon")


def raw_static(cities: pd.DataFrame) -> pd.DataFrame:
    """Static features per city before filling: index ``city_id``, columns ``STATIC_BASE``."""
    pop = cities["population"].to_numpy(np.float64)
    area = cities["area_km2"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(area > 0, pop / area, np.nan)
    return pd.DataFrame(
        {
            "log_population": np.log1p(pop),
            "log_area_km2": np.log1p(area),
            "log_density": np.log1p(density),
            "lat": cities["lat"].to_numpy(np.float64),
            "lon": cities["lon"].to_numpy(np.float64),
        },
        index=pd.Index(cities["city_id"].astype(str), name="city_id"),
    )


def fit_static(raw: pd.DataFrame) -> tuple[dict[str, float], tuple[str, ...]]:
    """Fill values (median over the fit cities; 0 when none is known) and the indicator columns."""
    medians = {c: float(raw[c].median()) if raw[c].notna().any() else 0.0 for c in STATIC_BASE}
    indicators = tuple(f"{c}_missing" for c in STATIC_BASE if raw[c].isna().any())
    return medians, indicators


def static_features(
    raw: pd.DataFrame,
    seg_bounds: np.ndarray,
    medians: Mapping[str, float],
    indicators: Sequence[str],
    codes: Sequence[int],
) -> dict[str, np.ndarray]:
    """Broadcast per-city static features to rows, all ``(n_rows,)`` float64.

    Args:
        raw: :func:`raw_static` rows of the city blocks, in block order.
        seg_bounds: ``(n_cities + 1,)`` row offsets of each city's block.
        medians: fill value per feature.
        indicators: ``<feature>_missing`` columns to emit.
        codes: ``city_code`` of each block.
    """
    counts = np.diff(seg_bounds)
    out: dict[str, np.ndarray] = {}
    for c in STATIC_BASE:
        vals = raw[c].to_numpy(np.float64)
        missing = np.isnan(vals)
        out[c] = np.repeat(np.where(missing, medians[c], vals), counts)
        if f"{c}_missing" in indicators:
            out[f"{c}_missing"] = np.repeat(missing.astype(np.float64), counts)
    out["city_code"] = np.repeat(np.asarray(codes, np.float64), counts)
    return out
