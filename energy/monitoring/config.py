"""Monitoring settings: one pydantic model, parsed once (YAML section ``monitoring:`` or defaults).

Every threshold the detectors and the alerting use lives here, so that a deployment tunes them in
one place. Units: hours for windows and delays, percent for MAPE, °C / MW for the inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccuracyConfig(_Strict):
    """Rolling accuracy and the degradation rule.

    A city degrades when its rolling error (``metric`` over the last ``window_h`` hours) stays
    above the version's backtest band for ``sustain_h`` consecutive hourly checks.
    """

    windows_h: tuple[int, ...] = (24, 168, 720)  # 24 h, 7 d, 30 d
    horizon_buckets: tuple[int, ...] = (6, 12, 24, 48, 168)  # upper edges of step buckets, hours
    metric: str = Field(default="mape", pattern="^(mape|mae|rmse)$")
    window_h: int = Field(default=168, ge=1)
    sustain_h: int = Field(default=24, ge=1)
    band_factor: float = Field(
        default=2.0,
        gt=1.0,
        description="registry MAPE × this = upper band when no backtest band is stored",
    )
    min_points: int = Field(
        default=84, ge=1, description="fewer scored hours in the window: no verdict (½ window)"
    )


class DriftConfig(_Strict):
    """Input drift (PSI + KS against a same-season reference) and residual drift (online)."""

    window_h: int = Field(
        default=168, ge=24, description="recent hours compared with the reference"
    )
    season_days: int = Field(default=30, ge=1, description="reference: ± days of the same season")
    bins: int = Field(default=10, ge=2)
    psi_alarm: float = Field(default=1.0, gt=0)
    ks_alarm: float = Field(default=0.5, gt=0, le=1, description="KS statistic D (not a p-value)")
    columns: tuple[str, ...] = ("temperature_c", "load_mw")
    alarm_columns: tuple[str, ...] = Field(
        default=("temperature_c",),
        description="inputs whose drift alarms; the others are scored and reported (the same-"
        "season load moves with weather and growth; level changes show in the residuals)",
    )
    residual_detector: str = Field(default="cusum", pattern="^(cusum|page_hinkley|adwin)$")
    residual_period_h: int = Field(default=6, ge=1, description="residuals averaged per period")
    peer_adjust: bool = Field(
        default=True, description="subtract the median residual of all cities at each hour"
    )
    ph_threshold: float = Field(
        default=5.0, gt=0, description="alarm level λ of the cumulative sum, in daily band scales"
    )
    ph_delta: float = Field(
        default=1.0, ge=0, description="drift tolerated per day δ, in daily band scales"
    )
    ph_min_periods: int = Field(default=3, ge=1)
    adwin_delta: float = Field(default=0.002, gt=0, lt=1)
    weather_bias_c: float = Field(
        default=2.5, gt=0, description="mean |served − observed| temperature over 24 h, °C"
    )


class AlertConfig(_Strict):
    """Where notifications go. ``urls`` are apprise URLs (Slack, Teams, mailto, json://...)."""

    urls: tuple[str, ...] = ()
    log_file: str | None = Field(
        default=None, description="local JSON-lines sink; default under the store"
    )
    cooldown_s: float = Field(
        default=24 * 3600.0, ge=0, description="same kind and key: silent for this long"
    )
    error_rate: float = Field(
        default=0.05, ge=0, le=1, description="serving error share that alarms"
    )


class LoggerConfig(_Strict):
    """The served-forecast logger of each replica."""

    queue_size: int = Field(
        default=2_000, ge=1, description="requests held before new ones are dropped"
    )
    batch_size: int = Field(default=500, ge=1)
    flush_s: float = Field(default=0.5, gt=0, description="longest a record waits before a write")
    retry_s: float = Field(default=1.0, gt=0, description="pause after a failed write (store down)")


class MonitorConfig(_Strict):
    """The ``monitoring`` section."""

    db_url: str | None = Field(
        default=None, description="SQLAlchemy URL; None: ENERGY_MONITOR_DB/default"
    )
    accuracy: AccuracyConfig = Field(default_factory=AccuracyConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    alerts: AlertConfig = Field(default_factory=AlertConfig)
    logger: LoggerConfig = Field(default_factory=LoggerConfig)


def load_monitor_config(path: str | Path | None = None) -> MonitorConfig:
    """A YAML file's ``monitoring:`` section (or the whole file if it has none); defaults if None.

    Raises:
        FileNotFoundError: the file does not exist.
        pydantic.ValidationError: a field is unknown or out of range.
    """
    if path is None:
        return MonitorConfig()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--config: no such file {str(p)!r}")
    raw: Any = yaml.safe_load(p.read_text()) or {}
    if isinstance(raw, dict) and "monitoring" in raw:
        raw = raw["monitoring"] or {}
    return MonitorConfig.model_validate(raw)
