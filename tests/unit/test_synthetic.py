"""energy.data.synthetic: canonical, deterministic, and the shapes it promises are really there."""

from __future__ import annotations

import holidays
import numpy as np
import pandas as pd
import pytest

from energy import schema
from energy.data import synthetic

pytestmark = pytest.mark.unit

ZONE_PREFIX = {
    "US": "America/",
    "GB": "Europe/London",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "MA": "Africa/Casablanca",
    "IN": "Asia/Kolkata",
    "AU": "Australia/",
}


@pytest.fixture(scope="module")
def year() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Nine cities (one per built-in locale) for a year, with local calendar columns added."""
    load, cities, events = synthetic.generate(9, 365, seed=3)
    parts = []
    for city_id, g in load.groupby(schema.CITY, sort=False):
        zone = cities.set_index("city_id").at[city_id, "timezone"]
        local = g[schema.TIME].dt.tz_convert(zone)
        parts.append(
            g.assign(
                date=local.dt.tz_localize(None).dt.normalize(),
                local_hour=local.dt.hour,
                weekday=local.dt.day_of_week,
            )
        )
    return pd.concat(parts), cities, events


@pytest.fixture(scope="module")
def daily(year: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """Mean load and temperature per city and local date; load relative to the city's mean."""
    load = year[0]
    d = (
        load.groupby([schema.CITY, "date"])
        .agg(
            load=(schema.LOAD, "mean"), temp=("temperature_c", "mean"), weekday=("weekday", "first")
        )
        .reset_index()
    )
    d["rel"] = d["load"] / d.groupby(schema.CITY)["load"].transform("mean")
    return d


def test_same_seed_same_tables_other_seed_other_load() -> None:
    a, b = synthetic.generate(3, 5, seed=1), synthetic.generate(3, 5, seed=1)
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y)
    other = synthetic.generate(3, 5, seed=2)[0]
    assert not np.allclose(a[0][schema.LOAD], other[schema.LOAD])


@pytest.mark.parametrize(("n_cities", "days"), [(1, 1), (4, 3), (11, 2)])
def test_sizes_and_hourly_utc_grid(n_cities: int, days: int) -> None:
    load, cities, _ = synthetic.generate(n_cities, days, start="2021-06-15")
    assert len(load) == n_cities * days * 24 and len(cities) == n_cities
    first = pd.Timestamp("2021-06-15", tz="UTC")  # a naive start is UTC
    expected = pd.date_range(first, periods=days * 24, freq="h")
    for _, g in load.groupby(schema.CITY):
        assert list(g[schema.TIME]) == list(expected)
    assert list(load[schema.CITY].unique()) == sorted(cities["city_id"])


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="n_cities and days must be >= 1, got 0 and 3"):
        synthetic.generate(0, 3)


def test_tables_are_canonical() -> None:
    load, cities, events = synthetic.generate(9, 40, seed=3)
    pd.testing.assert_frame_equal(schema.validate_load(load, allow_missing_load=False), load)
    pd.testing.assert_frame_equal(schema.validate_cities(cities), cities)
    pd.testing.assert_frame_equal(schema.validate_events(events, cities["city_id"]), events)
    schema.check_cities_cover(load, cities)
    assert set(cities["country"]) >= {"US", "GB", "DE", "FR", "MA", "IN"}
    for row in cities.itertuples():
        assert row.timezone.startswith(ZONE_PREFIX[row.country])
        if row.subdivision:
            assert row.subdivision.startswith(row.country + "-")
        # every locale is one the holidays package knows
        holidays.country_holidays(row.country, subdiv=row.subdivision[3:] or None, years=2020)
    assert cities["population"].max() / cities["population"].min() > 3
    assert (events["city_id"] == schema.ALL_CITIES).sum() == 1
    assert set(events["direction"]) == {"up", "down"}


def test_load_is_v_shaped_in_temperature(daily: pd.DataFrame) -> None:
    workdays = daily[daily["weekday"] < 5]
    assert np.corrcoef(workdays["rel"], (workdays["temp"] - 17).abs())[0, 1] > 0.6
    for _, city in workdays.groupby(schema.CITY):
        assert np.corrcoef(city["rel"], (city["temp"] - 17).abs())[0, 1] > 0.4
    cold, hot = workdays[workdays["temp"] < 10], workdays[workdays["temp"] > 24]
    assert len(cold) > 100 and len(hot) > 100
    assert np.corrcoef(cold["rel"], cold["temp"])[0, 1] < -0.3  # heating
    assert np.corrcoef(hot["rel"], hot["temp"])[0, 1] > 0.3  # cooling


def test_holidays_lower_load_against_the_same_weekday(
    year: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], daily: pd.DataFrame
) -> None:
    cities = year[1].set_index("city_id")
    ratios = []
    for city_id, g in daily.groupby(schema.CITY):
        c = cities.loc[city_id]
        days_off = holidays.country_holidays(
            c.country, subdiv=c.subdivision[3:] or None, years=2020
        )
        by_date = g.set_index("date")["load"]
        for date, value in by_date.items():
            if date.date() not in days_off or date.day_of_week >= 5:
                continue
            same_weekday = [date + pd.Timedelta(days=k) for k in (-7, 7)]
            ref = [
                by_date[d] for d in same_weekday if d in by_date.index and d.date() not in days_off
            ]
            if ref:
                ratios.append(value / np.mean(ref))
    assert len(ratios) > 50
    assert np.mean(ratios) < 0.92 and np.mean(np.array(ratios) < 1.0) > 0.9


def test_events_move_load_in_their_direction(
    year: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    load, cities, events = year
    series = load.set_index([schema.CITY, schema.TIME])[schema.LOAD]
    effect: dict[str, list[float]] = {"up": [], "down": []}
    for ev in events.itertuples():
        hours = pd.date_range(ev.start, ev.end, freq="h", inclusive="left")
        for city_id in cities["city_id"] if ev.city_id == schema.ALL_CITIES else [ev.city_id]:
            s = series.loc[city_id]
            during = s.reindex(hours).mean()
            week_apart = np.nanmean(
                [s.reindex(hours + pd.Timedelta(days=k)).mean() for k in (-7, 7)]
            )
            if np.isfinite(during) and np.isfinite(week_apart):
                effect[ev.direction].append(np.log(during / week_apart))
    up, down = np.array(effect["up"]), np.array(effect["down"])
    assert len(up) > 10 and len(down) > 3
    assert up.mean() > 0.05 and np.mean(up > 0) > 0.75
    assert down.mean() < -0.2 and np.all(down < 0)


def test_daily_peak_follows_local_time_across_dst(
    year: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    load, cities, _ = year
    city_id = cities.loc[cities["timezone"] == "America/New_York", "city_id"].iloc[0]
    g = load[(load[schema.CITY] == city_id) & (load["weekday"] < 5)]
    switch = pd.Timestamp("2020-03-08 07:00", tz="UTC")  # 02:00 EST → 03:00 EDT
    before = g[g[schema.TIME].between(switch - pd.Timedelta(days=21), switch, inclusive="left")]
    after = g[g[schema.TIME].between(switch + pd.Timedelta(days=1), switch + pd.Timedelta(days=22))]

    def peak_hour(rows: pd.DataFrame, hour: pd.Series) -> int:
        return int(rows.groupby(hour.to_numpy())[schema.LOAD].mean().idxmax())

    assert peak_hour(before, before["local_hour"]) == peak_hour(after, after["local_hour"]) == 19
    utc_before = peak_hour(before, before[schema.TIME].dt.hour)
    utc_after = peak_hour(after, after[schema.TIME].dt.hour)
    assert (utc_before - utc_after) % 24 == 1  # the UTC peak moves an hour earlier in summer
