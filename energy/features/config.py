"""``FeatureConfig``: what the feature pipeline computes (pydantic, ``extra="forbid"``).

Every lag, window and horizon is in hours; temperatures in °C.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from energy.features import lags as lag_mod


class FeatureConfig(BaseModel):
    """What the pipeline computes. Every lag, window and horizon is in hours."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    horizon: int = Field(default=24, ge=1, description="forecast horizon H; load lags must be >= H")
    lags: tuple[int, ...] | None = Field(
        default=None, description="load lags; None → default_lags(H)"
    )
    rolling_windows: tuple[int, ...] = (24, 168)
    rolling_stats: tuple[Literal["mean", "std", "min", "max"], ...] = ("mean", "std", "min", "max")
    temp_lags: tuple[int, ...] = (1, 2, 3, 24)
    temp_rolling_windows: tuple[int, ...] = (24, 168)
    hdh_base_c: float = 15.5
    cdh_base_c: float = 18.3
    holiday_clip_days: int = Field(default=7, ge=1)
    use_calendar: bool = True
    use_holidays: bool = True
    use_events: bool = True
    use_weather: bool = True
    use_static: bool = True
    standardize: bool = True
    allow_unseen_cities: bool = Field(
        default=False, description="unseen city: median scale, code n"
    )
    dtype: Literal["float32", "float64"] = "float32"

    @model_validator(mode="after")
    def _resolve_lags(self) -> Self:
        if self.lags is None:
            object.__setattr__(self, "lags", lag_mod.default_lags(self.horizon))
        for name in ("lags", "rolling_windows", "temp_lags", "temp_rolling_windows"):
            if any(v < 1 for v in getattr(self, name)):
                raise ValueError(f"{name}: every value must be a positive number of hours")
        lag_mod.check_lags(self.lags or (), self.horizon)
        return self

    @property
    def max_reach(self) -> int:
        """Longest reach back in hours of any lag or window: the grid padding."""
        reach = [*(self.lags or ()), *(self.horizon + w for w in self.rolling_windows)]
        return max([0, *reach, *self.temp_lags, *self.temp_rolling_windows]) + 1
