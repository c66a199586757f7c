"""Public holidays and bridge days per city, from the ``holidays`` package, in local dates.

A city's calendar is ``holidays.country_holidays(country, subdiv=...)`` with the part of its
ISO 3166-2 subdivision after the dash (``US-MA`` → ``MA``), joined with the country-level calendar:
a national "observed" day off counts even where the state does not move the holiday (the package's
US-MA calendar lacks 2020-07-03, the federal one has it; offices close and load drops). When the
package does not know the subdivision the country-level calendar is used; when it does not know
the country there are no computed holidays. Both fallbacks leave a note and never raise.
A supplied ``is_holiday`` column adds to the computed calendar (logical OR): a supplied flag on any
hour marks that whole local day as a holiday.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import holidays as holidays_pkg
import numpy as np

from energy.features.calendar import DEFAULT_WEEKEND

HOLIDAY_FEATURES: tuple[str, ...] = (
    "is_holiday",
    "is_bridge_day",
    "days_to_holiday",
    "days_since_holiday",
)
_LOOKUP_ERRORS = (NotImplementedError, KeyError, ValueError, AttributeError)


@dataclass(frozen=True)
class HolidayCalendar:
    """Which calendar a city uses.

    Attributes:
        country: ISO 3166-1 alpha-2 code known to the package, or ``""`` for no computed holidays.
        subdivision: the package's subdivision code (``"MA"``), or ``""`` for country level.
        weekend: weekend weekdays, Monday = 0 (Friday–Saturday in some countries).
        note: why the calendar differs from what the cities table asked for, else ``""``.
    """

    country: str
    subdivision: str = ""
    weekend: frozenset[int] = DEFAULT_WEEKEND
    note: str = ""


@lru_cache(maxsize=4096)
def resolve_calendar(city_id: str, country: str, subdivision: str) -> HolidayCalendar:
    """The best calendar the ``holidays`` package offers for a city; never raises.

    Cached: building the package's calendar object is the expensive part, and every forecast
    asks for the calendars of its cities (the answer is immutable).
    """
    prefix, _, sub = subdivision.partition("-") if subdivision else ("", "", "")
    note = ""
    if sub and prefix != country:
        note = f"subdivision {subdivision!r} is not in country {country!r}; using country level"
        sub = ""
    if sub:
        try:
            cal = holidays_pkg.country_holidays(country, subdiv=sub)
            return HolidayCalendar(country, sub, frozenset(cal.weekend))
        except _LOOKUP_ERRORS:
            note = (
                f"the holidays package has no subdivision {subdivision!r}; using {country} holidays"
            )
    try:
        cal = holidays_pkg.country_holidays(country)
        return HolidayCalendar(country, "", frozenset(cal.weekend), _note(city_id, note))
    except _LOOKUP_ERRORS:
        note = f"the holidays package has no country {country!r}; no computed holidays"
        return HolidayCalendar("", "", DEFAULT_WEEKEND, _note(city_id, note))


def _note(city_id: str, note: str) -> str:
    return f"city {city_id!r}: {note}" if note else ""


@lru_cache(maxsize=512)
def holiday_days(country: str, subdivision: str, first_year: int, last_year: int) -> np.ndarray:
    """Sorted holiday dates, ``(n,)`` int64 days since 1970-01-01, years inclusive."""
    if not country:
        return np.zeros(0, np.int64)
    years = range(first_year, last_year + 1)
    days = set(holidays_pkg.country_holidays(country, years=years).keys())
    if subdivision:
        days |= set(holidays_pkg.country_holidays(country, subdiv=subdivision, years=years).keys())
    dates = np.array(sorted(days), dtype="datetime64[D]")
    out = dates.astype(np.int64)
    out.setflags(write=False)  # shared through the cache
    return out


def holiday_features(
    days: np.ndarray,
    seg_bounds: np.ndarray,
    calendars: Sequence[HolidayCalendar],
    supplied: np.ndarray | None = None,
    clip_days: int = 7,
) -> dict[str, np.ndarray]:
    """Holiday features per row, all ``(n_rows,)`` float64.

    Args:
        days: ``(n_rows,)`` int64 *local* calendar day of each row, days since 1970-01-01.
        seg_bounds: ``(n_cities + 1,)`` row offsets of each city's block.
        calendars: the calendar of each city block.
        supplied: ``(n_rows,)`` bool supplied holiday flags (missing = False), or None.
        clip_days: distances to the next / since the last holiday are clipped to this many days.

    Returns:
        ``is_holiday`` and ``is_bridge_day`` (0/1; a bridge day is a working day between a holiday
        and another day off, e.g. the Friday after a Thursday holiday), ``days_to_holiday`` and
        ``days_since_holiday`` in days, 0 on a holiday, clipped to ``clip_days``.
    """
    n = len(days)
    out = {name: np.zeros(n) for name in HOLIDAY_FEATURES}
    # cities of one calendar without supplied flags share everything: one pass per calendar
    own = [
        i
        for i in range(len(calendars))
        if supplied is not None and supplied[int(seg_bounds[i]) : int(seg_bounds[i + 1])].any()
    ]
    block = np.repeat(np.arange(len(calendars)), np.diff(seg_bounds))  # (n_rows,)
    groups: dict[HolidayCalendar, list[int]] = {}
    for i, cal in enumerate(calendars):
        if i not in own:
            groups.setdefault(cal, []).append(i)
    for cal, members in groups.items():
        rows = np.flatnonzero(np.isin(block, members))
        if len(rows):
            _fill(out, rows, days[rows], cal, None, clip_days)
    for i in own:
        a, b = int(seg_bounds[i]), int(seg_bounds[i + 1])
        sup = None if supplied is None else supplied[a:b]
        _fill(out, np.arange(a, b), days[a:b], calendars[i], sup, clip_days)
    return out


def _fill(
    out: dict[str, np.ndarray],
    rows: np.ndarray,
    d: np.ndarray,
    cal: HolidayCalendar,
    supplied: np.ndarray | None,
    clip_days: int,
) -> None:
    """Holiday features of ``rows`` (local days ``d``, one calendar) into ``out``."""
    uniq, inv = np.unique(d, return_inverse=True)
    years = uniq[[0, -1]].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
    years += 1970
    hol = holiday_days(cal.country, cal.subdivision, int(years.min()) - 1, int(years.max()) + 1)
    if supplied is not None:
        hol = np.union1d(hol, d[supplied])
    is_hol = np.isin(uniq, hol)
    out["is_holiday"][rows] = is_hol[inv]
    out["is_bridge_day"][rows] = _bridge(uniq, is_hol, hol, cal.weekend)[inv]
    out["days_to_holiday"][rows] = _distance(uniq, hol, forward=True, clip=clip_days)[inv]
    out["days_since_holiday"][rows] = _distance(uniq, hol, forward=False, clip=clip_days)[inv]


def _bridge(days: np.ndarray, is_hol: np.ndarray, hol: np.ndarray, weekend: frozenset[int]):
    wk = sorted(weekend)

    def off(x: np.ndarray) -> np.ndarray:
        return np.isin((x + 3) % 7, wk) | np.isin(x, hol)

    working = ~is_hol & ~np.isin((days + 3) % 7, wk)
    hol_next = np.isin(days - 1, hol) | np.isin(days + 1, hol)
    return working & off(days - 1) & off(days + 1) & hol_next


def _distance(days: np.ndarray, hol: np.ndarray, *, forward: bool, clip: int) -> np.ndarray:
    if len(hol) == 0:
        return np.full(len(days), float(clip))
    if forward:
        j = np.searchsorted(hol, days, side="left")
        ok = j < len(hol)
        dist = np.where(ok, hol[np.minimum(j, len(hol) - 1)] - days, clip)
    else:
        j = np.searchsorted(hol, days, side="right") - 1
        ok = j >= 0
        dist = np.where(ok, days - hol[np.maximum(j, 0)], clip)
    return np.minimum(dist, clip).astype(np.float64)
