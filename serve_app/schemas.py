"""Request and response bodies of the forecast API (pydantic v2; they make the OpenAPI at /docs).

Times are ISO 8601 with an offset (``2008-06-30T05:00:00+00:00``); responses give UTC. Loads are in
MW, temperatures in °C. Unknown fields are errors (422), so a typo never silently changes a
forecast.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from energy.models.base import MAX_HORIZON

MAX_BATCH = 1000
WeatherSource = Literal["supplied", "climatology", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeatherPoint(_Strict):
    """Weather forecast for one hour (hour-beginning) of the horizon."""

    timestamp: AwareDatetime
    temperature_c: float | None = Field(default=None, ge=-90, le=70, description="°C")
    dewpoint_c: float | None = Field(default=None, ge=-90, le=70, description="°C")
    humidity_pct: float | None = Field(default=None, ge=0, le=100, description="%")
    wind_speed_ms: float | None = Field(default=None, ge=0, le=150, description="m/s")
    solar_wm2: float | None = Field(default=None, ge=0, le=2000, description="W/m²")


class HistoryPoint(_Strict):
    """One recent hour of observed load; replaces the stored value at that hour (or extends it)."""

    timestamp: AwareDatetime
    load_mw: float = Field(ge=0, description="mean load over the hour, MW")
    temperature_c: float | None = Field(default=None, ge=-90, le=70, description="°C")


class ForecastRequest(_Strict):
    """One city's forecast from ``start`` for ``horizon_hours`` hours."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"city_id": "zone_01", "horizon_hours": 24}]},
    )

    city_id: str = Field(min_length=1, max_length=200)
    start: AwareDatetime | None = Field(
        default=None,
        description="first forecast hour, ISO 8601 with offset; default: the hour after the "
        "city's last known load",
    )
    horizon_hours: int = Field(
        default=24,
        ge=1,
        le=MAX_HORIZON,
        strict=True,
        description="hours to forecast; at most the served model's horizon (GET /v1/model)",
    )
    weather: list[WeatherPoint] | None = Field(
        default=None,
        max_length=MAX_HORIZON,
        description="hourly weather over the horizon; else climatology",
    )
    history: list[HistoryPoint] | None = Field(
        default=None, max_length=24 * 60, description="recent loads that override the stored ones"
    )
    members: bool = Field(default=False, description="also return each ensemble member's forecast")


class BatchForecastRequest(_Strict):
    """Many forecasts in one call (cities with the same start and horizon are computed together)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"requests": [{"city_id": "zone_01"}, {"city_id": "zone_02"}]}]
        },
    )

    requests: list[ForecastRequest] = Field(min_length=1, max_length=MAX_BATCH)


class ForecastPoint(BaseModel):
    timestamp: datetime = Field(description="UTC hour (hour-beginning)")
    forecast_mw: float
    members: dict[str, float] | None = Field(default=None, description="member name → forecast, MW")


class ModelRef(BaseModel):
    name: str = Field(description="registered model name, or the package directory's name")
    version: str = Field(description="registry version, or the package's content id")


class ForecastResponse(BaseModel):
    city_id: str
    start: datetime
    horizon_hours: int
    weather_source: WeatherSource = Field(
        description="supplied: the request's weather; climatology: the model's weather normals "
        "by city, day of year and hour; none: the model uses no weather"
    )
    model: ModelRef
    points: list[ForecastPoint]


class BatchForecastResponse(BaseModel):
    model: ModelRef
    forecasts: list[ForecastResponse]


class City(BaseModel):
    city_id: str
    name: str | None = None
    country: str | None = None
    timezone: str
    last_load: datetime = Field(description="UTC hour of the last stored load")
    next_start: datetime = Field(description="default forecast start")


class CitiesResponse(BaseModel):
    model: ModelRef
    cities: list[City]


class ModelInfo(BaseModel):
    name: str
    version: str
    source: Literal["registry", "package"]
    alias: str | None = None
    kind: str
    config_name: str | None = None
    trained_at: str | None = None
    train_end: str | None = None
    history_end: str | None = None
    data_hash: str | None = None
    horizon: int | None = Field(
        default=None, description="the longest horizon this model answers, hours"
    )
    members: list[str] = []
    metrics: dict[str, object] = {}
    loaded_at: str


class Health(BaseModel):
    status: Literal["ok", "loading", "failed"]
    model: ModelRef | None = None
    detail: str | None = None


class LimitInfo(BaseModel):
    """A server limit that refused a request: its setting's name and value."""

    name: str
    value: float


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer: one readable line, the field and value at fault when known, and
    the limit when a limit refused the request."""

    error: str
    field: str | None = None
    value: object | None = None
    limit: LimitInfo | None = None


class ActualPoint(_Strict):
    """One observed hour (canonical load schema; validated like ``energy actuals ingest``)."""

    city_id: str = Field(min_length=1, max_length=200)
    timestamp: AwareDatetime = Field(description="hour-beginning, any UTC offset")
    load_mw: float = Field(description="mean load over the hour, MW")
    temperature_c: float | None = Field(default=None, description="observed temperature, °C")


class ActualsRequest(_Strict):
    actuals: list[ActualPoint] = Field(min_length=1, max_length=100_000)


class ActualsResponse(BaseModel):
    inserted: int
    revised: int
    unchanged: int
    rows: int
    cities: int
    span_utc: list[str]
