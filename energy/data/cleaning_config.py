"""How to clean an import: the ``--cleaning`` policy (YAML) as a typed config.

Durations are hours of the UTC grid, loads MW, dates UTC days. Every field has a default, so an
empty policy file means the defaults; unknown keys are an error (a typo must not be ignored).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import pydantic


class CleaningConfig(pydantic.BaseModel, extra="forbid"):
    """How to clean. Durations are in hours of the UTC grid."""

    max_interpolate_hours: int = pydantic.Field(default=3, ge=0)
    """Gaps of absent hours up to this long are linearly interpolated and flagged."""
    outlier_threshold: float = pydantic.Field(default=6.0, gt=0)
    """Robust z (MAD-scaled) of the log-load residual vs the seasonal profile."""
    holiday_threshold_factor: float = pydantic.Field(default=2.0, ge=1)
    """On ``is_holiday`` hours the threshold is this many times higher: a holiday's daily shape
    differs from the weekly profile by design, and masking it would hide it from training."""
    outlier_policy: Literal["flag", "mask", "interpolate"] = "mask"
    zero_policy: Literal["flag", "mask"] = "mask"
    negative_policy: Literal["mask", "error"] = "mask"
    flatline_hours: int = pydantic.Field(default=24, ge=2)
    """Runs of identical values at least this long are masked."""
    level_shift_ratio: float = pydantic.Field(default=1.5, gt=1)
    """Ratio of monthly medians (or its inverse) that counts as a level shift."""
    level_shift_months: int = pydantic.Field(default=2, ge=1)
    """A level shift must persist for at least this many calendar months."""
    profile_weeks: int = pydantic.Field(default=3, ge=1)
    """The seasonal profile of an hour is the median of the same hour of week ± this many weeks."""
    scale_days: int = pydantic.Field(default=56, ge=7)
    """Window (centred, days) of the rolling median and MAD of the residual."""
    min_month_hours: int = pydantic.Field(default=14 * 24, ge=1)
    """Months with fewer valid hours are ignored by level-shift detection."""
    # ---- plausibility (energy.data.plausibility): a bounded import ----
    earliest: date = date(1950, 1, 1)
    """Timestamps before this day (UTC) fail the import: a typo, not data."""
    latest: date = date(2100, 1, 1)
    """Timestamps on or after this day (UTC) fail the import."""
    max_gap_hours: int = pydantic.Field(default=366 * 24, ge=0)
    """A city whose rows are further apart than this fails the import (the gap would be filled
    with absent hours: a year-2300 typo once meant 2.45 M rows)."""
    max_load_mw: float = pydantic.Field(default=5e6, gt=0)
    """No city's load is above this (MW; more than the whole world's mean demand)."""
    max_load_ratio: float = pydantic.Field(default=10.0, gt=1)
    """A load above this many times the city's median load is implausible (masked)."""
    load_bounds_mw: dict[str, tuple[float, float]] = {}
    """Per-city plausible range ``city_id: [low, high]`` in MW; replaces the two rules above."""
    max_implausible_share: float = pydantic.Field(default=0.5, ge=0, le=1)
    """A city with more implausible loads than this share of its loads fails the import."""

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> CleaningConfig:
        if self.latest <= self.earliest:
            raise ValueError(f"latest ({self.latest}) must be after earliest ({self.earliest})")
        for city, (low, high) in self.load_bounds_mw.items():
            if not 0 <= low < high:
                raise ValueError(
                    f"load_bounds_mw.{city}: need 0 <= low < high, not [{low}, {high}]"
                )
        return self
