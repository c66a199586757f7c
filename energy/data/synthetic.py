"""Synthetic load, cities and events tables, for tests, scale runs and offline demos.

**Made-up data: never report accuracy measured on it.** The shapes are plausible, the numbers are
not anyone's city; a model that scores well here has learnt this generator, nothing more.

For each city ``c`` and UTC hour ``t`` (local quantities in the city's IANA time zone, so the
daily profile moves by an hour in UTC when daylight saving time starts or ends)::

    T    = mean(lat) − amp(lat)·cos(season) + diurnal(local hour) + AR(1) weather anomaly    °C
    load = base_c · profile(local hour, weekday / weekend / holiday) · day-of-week factor
           · lighting(season) · trend · (1 + heat_c·max(0, th_c − T̃) + cool_c·max(0, T̃ − tc_c))
           · events · (1 + AR(1) noise)                                                       MW

``T̃`` is temperature smoothed over a few hours (buildings store heat); heating starts below
about 15 °C and cooling above about 20 °C, so load is V-shaped in temperature. ``base_c`` is
population (lognormal) times a per-capita demand that depends on the country. Holidays come from
the ``holidays`` package for each city's country and subdivision, on local dates. The southern
hemisphere has its seasons the other way round.
"""

from __future__ import annotations

import holidays
import numpy as np
import pandas as pd

from energy import schema

# country, ISO 3166-2 subdivision, IANA zone, lat, lon, kW per person, heating and cooling slopes
# (fraction of base load per °C beyond the threshold)
_LOCALES: tuple[tuple[str, str, str, float, float, float, float, float], ...] = (
    ("US", "US-NY", "America/New_York", 40.7, -74.0, 1.3, 0.020, 0.035),
    ("US", "US-CA", "America/Los_Angeles", 34.1, -118.2, 1.1, 0.015, 0.030),
    ("US", "US-IL", "America/Chicago", 41.9, -87.6, 1.3, 0.020, 0.030),
    ("GB", "GB-ENG", "Europe/London", 52.5, -1.5, 0.6, 0.020, 0.012),
    ("DE", "DE-BE", "Europe/Berlin", 52.5, 13.4, 0.7, 0.015, 0.012),
    ("FR", "", "Europe/Paris", 46.5, 2.4, 0.8, 0.030, 0.012),
    ("MA", "", "Africa/Casablanca", 33.6, -7.6, 0.15, 0.015, 0.025),
    ("IN", "IN-DL", "Asia/Kolkata", 28.6, 77.2, 0.12, 0.015, 0.035),
    ("AU", "AU-NSW", "Australia/Sydney", -33.9, 151.2, 1.0, 0.015, 0.025),
)
# Mean daily profiles by local hour (1.0 = daily mean): evening peak at 19:00 local.
# fmt: off
_WEEKDAY = np.array([0.72, 0.68, 0.66, 0.65, 0.66, 0.72, 0.85, 0.98, 1.05, 1.08, 1.09, 1.09,
                     1.08, 1.07, 1.06, 1.06, 1.08, 1.14, 1.20, 1.24, 1.17, 1.06, 0.93, 0.81])
_WEEKEND = np.array([0.78, 0.73, 0.70, 0.68, 0.68, 0.70, 0.75, 0.82, 0.90, 0.97, 1.01, 1.03,
                     1.03, 1.01, 0.99, 0.98, 1.00, 1.06, 1.13, 1.18, 1.12, 1.03, 0.93, 0.84])
# fmt: on
_DAY_FACTOR = np.array([0.98, 1.0, 1.0, 1.0, 0.98, 0.92, 0.87])  # Monday … Sunday
_HOLIDAY_FACTOR = 0.85  # a holiday uses the weekend profile, scaled down further
# kind, direction, relative effect range, duration range (hours), local start hour (None: any)
_EVENT_KINDS = (
    ("sport", "up", (0.10, 0.20), (3, 3), 19),
    ("festival", "up", (0.08, 0.15), (12, 36), 10),
    ("outage", "down", (-0.60, -0.25), (2, 8), None),
)


def generate(
    n_cities: int, days: int, seed: int = 0, start: str | pd.Timestamp = "2020-01-01"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Generate canonical (load, cities, events) tables.

    Args:
        n_cities: number of cities; ids ``syn-000`` … sort in numeric order.
        days: length in days; the load table has ``n_cities · days · 24`` rows.
        seed: the same seed (and ``holidays`` version) gives identical tables.
        start: first hour, read as UTC (``"2020-01-01"`` is 2020-01-01 00:00 UTC).

    Returns:
        ``load``: ``city_id, timestamp`` (UTC, hour-beginning), ``load_mw`` (MW),
        ``temperature_c``, ``dewpoint_c`` (°C), ``humidity_pct`` (%), sorted by city and time,
        with the dtypes :func:`energy.schema.validate_load` returns. ``cities``: the canonical
        cities table. ``events``: canonical events (UTC, end exclusive), with ``direction``
        saying whether the event raised or lowered load, including one for all cities (``*``).
    """
    if n_cities < 1 or days < 1:
        raise ValueError(f"n_cities and days must be >= 1, got {n_cities} and {days}")
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    n_hours = days * 24
    utc = pd.date_range(t0.floor("h"), periods=n_hours, freq="h", tz="UTC")

    cities = _cities(n_cities, rng)
    c = len(cities)
    loc = rng.permutation(np.resize(np.arange(len(_LOCALES)), c))  # a balanced mix of locales
    # Local calendar for each distinct (zone, country, subdivision): (n_locales, n_hours) arrays.
    hour, dow, doy, hol = (np.empty((len(_LOCALES), n_hours), dtype=np.int16) for _ in range(4))
    for i, (country, sub, tz, *_) in enumerate(_LOCALES):
        local = utc.tz_convert(tz)
        hour[i], dow[i], doy[i] = local.hour, local.day_of_week, local.day_of_year
        dates = local.tz_localize(None).normalize()
        years = range(dates[0].year, dates[-1].year + 1)
        days_off = holidays.country_holidays(country, subdiv=sub[3:] or None, years=years)
        hol[i] = np.isin(dates.date, np.array(list(days_off), dtype=object))
    hour, dow, doy, hol = hour[loc], dow[loc], doy[loc], hol[loc].astype(bool)  # (C, H)
    lat = np.array([_LOCALES[i][3] for i in loc]) + rng.uniform(-1.5, 1.5, c)
    lon = np.array([_LOCALES[i][4] for i in loc]) + rng.uniform(-1.5, 1.5, c)
    south = (lat < 0)[:, None]

    # ---- weather (°C) -------------------------------------------------------------------------
    season = 2 * np.pi * (doy - 15) / 365.25 + np.pi * south  # coldest mid-January (north)
    mean_c = 30.0 - 0.4 * np.abs(lat) + rng.normal(0, 1.0, c)
    amp = 0.25 * np.abs(lat) + rng.uniform(-1.0, 1.0, c)
    diurnal = rng.uniform(3.0, 5.0, c)[:, None] * np.cos(2 * np.pi * (hour - 15) / 24)
    ar_sd = 3.0 * np.sqrt(1 - 0.97**2)  # innovations for a stationary standard deviation of 3 °C
    anomaly = _ar1(rng.normal(0.0, ar_sd, (c, n_hours)), 0.97, rng.normal(0.0, 3.0, c))
    temp = np.clip(mean_c[:, None] - amp[:, None] * np.cos(season) + diurnal + anomaly, -60, 55)
    spread = rng.uniform(2.0, 8.0, c)[:, None] + 0.4 * diurnal + rng.gamma(2.0, 0.5, temp.shape)
    dew = temp - np.clip(spread, 0.5, 30.0)
    humidity = 100.0 * np.exp(17.625 * dew / (243.04 + dew) - 17.625 * temp / (243.04 + temp))

    # ---- load (MW) ----------------------------------------------------------------------------
    kw = np.array([_LOCALES[i][5] for i in loc]) * rng.lognormal(0.0, 0.15, c)
    base = cities["population"].to_numpy() * kw / 1000.0
    depth = rng.uniform(0.8, 1.2, c)[:, None]  # how pronounced each city's daily swing is
    weekend = (dow >= 5) | hol
    profile = 1.0 + depth * (np.where(weekend, _WEEKEND[hour], _WEEKDAY[hour]) - 1.0)
    day = np.where(hol, _HOLIDAY_FACTOR, _DAY_FACTOR[dow])
    lighting = 1.0 + 0.04 * np.cos(season)  # more lighting in winter
    trend = 1.0 + 0.01 * (np.arange(n_hours) / 8766.0)
    felt = _ar1(0.25 * temp, 0.75, temp[:, 0])  # thermal inertia: an EMA over ~4 h
    heat = np.array([_LOCALES[i][6] for i in loc]) * rng.uniform(0.8, 1.25, c)
    cool = np.array([_LOCALES[i][7] for i in loc]) * rng.uniform(0.8, 1.25, c)
    heat_at, cool_at = rng.uniform(14.0, 16.0, c), rng.uniform(19.0, 21.0, c)
    weather = (
        1.0
        + heat[:, None] * np.maximum(0.0, heat_at[:, None] - felt)
        + cool[:, None] * np.maximum(0.0, felt - cool_at[:, None])
    )
    eps = rng.normal(0.0, 0.02 * np.sqrt(1 - 0.9**2), (c, n_hours))
    noise = 1.0 + _ar1(eps, 0.9, rng.normal(0.0, 0.02, c))  # 2 % AR(1) noise
    events, effect = _events(cities, [_LOCALES[i][2] for i in loc], utc, rng)
    load = base[:, None] * profile * day * lighting * trend * weather * effect * noise

    cities["country"] = [_LOCALES[i][0] for i in loc]
    cities["subdivision"] = [_LOCALES[i][1] for i in loc]
    cities["timezone"] = [_LOCALES[i][2] for i in loc]
    cities["lat"], cities["lon"] = lat.round(3), lon.round(3)
    out = pd.DataFrame(
        {
            schema.CITY: pd.array(np.repeat(cities["city_id"].to_numpy(), n_hours), dtype="str"),
            schema.TIME: pd.DatetimeIndex(
                np.tile(utc.tz_localize(None).as_unit("us"), c), tz="UTC"
            ),
            schema.LOAD: np.maximum(load, 0.0).ravel(),
            "temperature_c": temp.ravel().round(2),
            "dewpoint_c": dew.ravel().round(2),
            "humidity_pct": np.clip(humidity, 0.0, 100.0).ravel().round(1),
        }
    )
    return out, schema.validate_cities(cities), schema.validate_events(events, cities["city_id"])


def _ar1(innovations: np.ndarray, phi: float, x0: np.ndarray) -> np.ndarray:
    """``x[:, h] = phi·x[:, h−1] + innovations[:, h]`` along the hours of a (cities, hours) array,
    starting from ``x[:, 0] = x0``."""
    eps = np.ascontiguousarray(innovations.T)  # (hours, cities): contiguous rows for the loop
    x = np.empty_like(eps)
    x[0] = x0
    for h in range(1, len(x)):
        x[h] = phi * x[h - 1] + eps[h]
    return x.T


def _cities(n: int, rng: np.random.Generator) -> pd.DataFrame:
    width = max(3, len(str(n - 1)))
    population = np.clip(rng.lognormal(np.log(4e5), 1.0, n), 3e4, 2.5e7).round(-2)
    density = rng.lognormal(np.log(2500.0), 0.5, n)  # people per km²
    ids = [f"syn-{i:0{width}d}" for i in range(n)]
    return pd.DataFrame(
        {
            "city_id": ids,
            "name": [f"Synthetic city {i}" for i in range(n)],
            "population": population,
            "area_km2": (population / density).round(1),
            "attrs": [{"synthetic": True}] * n,
        }
    )


def _events(
    cities: pd.DataFrame, zones: list[str], utc: pd.DatetimeIndex, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    """A few events per city plus one for all cities, and their (cities, hours) load factor."""
    days = len(utc) // 24
    first_day, last_day = (1, days - 2) if days > 3 else (0, days)  # keep events inside the data
    # (row, or None for all cities; city_id; start, UTC; hours; kind; direction; relative size)
    drawn: list[tuple[int | None, str, pd.Timestamp, int, str, str, float]] = []
    for row, (city_id, zone) in enumerate(zip(cities["city_id"], zones, strict=True)):
        midnight = utc[0].tz_convert(zone).normalize().tz_localize(None)  # first local midnight
        for _ in range(1 + rng.poisson(days / 150)):
            kind, direction, sizes, durations, at = _EVENT_KINDS[rng.integers(len(_EVENT_KINDS))]
            size = rng.uniform(*sizes)
            hours = int(rng.integers(durations[0], durations[1] + 1))
            day = int(rng.integers(first_day, last_day))
            local_hour = at if at is not None else int(rng.integers(0, 24))
            local = midnight + pd.Timedelta(days=day, hours=local_hour)
            begin = local.tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
            start_utc = begin.tz_convert("UTC").floor("h")
            drawn.append((row, city_id, start_utc, hours, kind, direction, size))
    final = utc[0].floor("D") + pd.Timedelta(days=int(rng.integers(0, days)), hours=19)
    drawn.append((None, schema.ALL_CITIES, final, 2, "sport", "up", 0.05))

    effect = np.ones((len(cities), len(utc)))
    rows = []
    for target, city_id, begin, hours, kind, direction, size in drawn:
        i0 = int((begin - utc[0]) // pd.Timedelta(hours=1))
        if i0 + hours <= 0 or i0 >= len(utc):
            continue  # only possible for a few days of data; keep every listed event visible
        rows_of = slice(None) if target is None else target
        effect[rows_of, max(i0, 0) : i0 + hours] *= 1.0 + size
        end = begin + pd.Timedelta(hours=hours)
        name = f"{kind} ({size:+.0%})"
        rows.append((city_id, begin, end, name, kind, direction))
    return pd.DataFrame(rows, columns=list(schema.EVENT_COLUMNS)), effect
