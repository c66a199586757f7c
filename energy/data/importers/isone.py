"""ISO New England SMD 2017 (Jan–Apr): 8 load zones, each with its own weather station, hourly.

``src`` is the folder ``../shared/data/isone_smd_2017`` (or ``isone_smd_2017_hourly.parquet``
itself); ``us_federal_holidays_2005_2017.parquet`` is read from the same folder.

Decisions:

* **Time**: ``timestamp_utc`` is already UTC hour-beginning and is used as is. The synthetic
  DST hour ISO-NE fabricates on 2017-03-12 (hour-ending 02, which does not exist locally) was
  already removed by the shared ``convert.py`` (9 rows); nothing else is missing. Cities get
  ``timezone = "America/New_York"``.
* **Units**: ``demand_mw`` (real-time demand, MW) → ``load_mw``; ``drybulb_f`` → ``temperature_c``
  and ``dewpoint_f`` → ``dewpoint_c`` (°F → °C), each zone's own representative station.
* **Holidays**: ``is_holiday`` from the supplied US federal list, on the local date in
  America/New_York.
* **Control-area total** ``ISONE_CA`` (= sum of the 8 zones) is not imported by default: its rows
  are listed in ``dropped`` ("aggregate of the 8 zones"). ``include_total=True`` imports it as a
  ninth city (weather = the ISO's weighted average of the 8 stations).
* Day-ahead demand, LMPs and the metered system load are not part of the canonical table (listed in
  ``dropped`` as columns, 0 rows).
* Cities: subdivision is the state (the three Massachusetts zones share ``US-MA``); lat/lon are the
  representative weather station's; population stays NaN (zones are not exactly states).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from energy import schema
from energy.data.importers import RawImport, SourceError
from energy.data.importers._common import (
    as_bool,
    check_known,
    decimal_float64,
    file_hashes,
    holiday_flags,
    locate,
    read_parquet,
    validated,
)

HOURLY = "isone_smd_2017_hourly.parquet"
HOLIDAYS = "us_federal_holidays_2005_2017.parquet"
TIMEZONE = "America/New_York"
TOTAL = "ISONE_CA"
UNUSED_COLUMNS = ("da_demand_mw", "da_lmp_usd_mwh", "rt_lmp_usd_mwh", "system_load_mw")

# zone → (name, subdivision, station, lat, lon)
ZONES: dict[str, tuple[str, str, str, float, float]] = {
    "ME": ("Maine", "US-ME", "Portland ME (PWM)", 43.646, -70.309),
    "NH": ("New Hampshire", "US-NH", "Concord NH (CON)", 43.195, -71.501),
    "VT": ("Vermont", "US-VT", "Burlington VT (BTV)", 44.468, -73.150),
    "CT": ("Connecticut", "US-CT", "Windsor Locks CT (BDL)", 41.939, -72.683),
    "RI": ("Rhode Island", "US-RI", "Providence RI (PVD)", 41.722, -71.428),
    "SEMASS": ("Southeast Massachusetts", "US-MA", "Providence RI (PVD)", 41.722, -71.428),
    "WCMASS": ("West/Central Massachusetts", "US-MA", "Worcester MA (ORH)", 42.267, -71.876),
    "NEMASSBOST": (
        "Northeast Massachusetts and Boston",
        "US-MA",
        "Boston MA (BOS)",
        42.361,
        -71.010,
    ),
}
TOTAL_CITY = ("ISO New England control area", "", "weighted average of 8 stations", None, None)


def read(src: Path, *, include_total: bool = False) -> RawImport:
    """Read the ISO-NE 2017 SMD hourly data.

    Args:
        src: the ``isone_smd_2017`` folder or its hourly Parquet file.
        include_total: also import ``ISONE_CA`` (the control-area total, = sum of the 8 zones).

    Returns:
        Load table (UTC hour-beginning, MW, °C, dew point °C, ``is_holiday``) and cities table.
    """
    include_total = as_bool(include_total, "include_total")
    path = locate(src, HOURLY, "isone")
    df = read_parquet(path, ["timestamp_utc", "region_id", "demand_mw", "drybulb_f", "dewpoint_f"])
    df["region_id"] = df["region_id"].astype(str)
    check_known(df["region_id"], [*ZONES, TOTAL], path.name, "region_id")
    if df["timestamp_utc"].dt.tz is None:
        raise SourceError(f"{path.name}: column 'timestamp_utc' has no time zone (expected UTC)")

    dropped: list[dict[str, Any]] = []
    is_total = df["region_id"] == TOTAL
    if not include_total and is_total.any():
        dropped.append(
            {
                "reason": "aggregate of the 8 zones",
                "rows": int(is_total.sum()),
                "detail": f"region_id {TOTAL} (control-area total); import with include_total=true",
            }
        )
        df = df[~is_total].reset_index(drop=True)
    unused = [c for c in UNUSED_COLUMNS if c in df.columns]
    if unused:
        dropped.append(
            {
                "reason": "not part of the canonical load table",
                "rows": 0,
                "detail": "columns " + ", ".join(unused),
                "columns": unused,
            }
        )

    notes = [
        "timestamps: timestamp_utc used as is (UTC hour-beginning); convert.py already removed "
        "ISO-NE's fabricated DST hour 2017-03-12 HE02 (9 rows)",
        "temperature_c / dewpoint_c: each zone's representative station, °F -> °C",
        "float32 values of the converted file read back as their shortest decimal",
    ]
    files = [path]
    load = pd.DataFrame(
        {
            schema.CITY: df["region_id"],
            schema.TIME: df["timestamp_utc"],
            schema.LOAD: decimal_float64(df["demand_mw"]),
            schema.TEMP: schema.fahrenheit_to_celsius(decimal_float64(df["drybulb_f"])),
            "dewpoint_c": schema.fahrenheit_to_celsius(decimal_float64(df["dewpoint_f"])),
        }
    )
    hol_path = path.parent / HOLIDAYS
    if hol_path.is_file():
        hol = read_parquet(hol_path, ["date"])
        local = df["timestamp_utc"].dt.tz_convert(TIMEZONE)
        load[schema.HOLIDAY] = holiday_flags(local, hol["date"])
        files.append(hol_path)
        notes.append(f"is_holiday: {HOLIDAYS}, local date in {TIMEZONE}")
    else:
        notes.append(f"no {HOLIDAYS} next to {path.name}: is_holiday not supplied")

    city_ids = sorted(load[schema.CITY].unique())
    cities = pd.DataFrame([_city(c) for c in city_ids])
    load, cities = validated(load, cities, str(path))
    source = {
        "kind": "isone",
        "path": str(src),
        "files": file_hashes(files),
        "include_total": include_total,
        "assumptions": {
            "timezone": f"UTC in source; cities on {TIMEZONE}",
            "load": "real-time demand (DEMAND), MW",
            "weather": "representative station per zone (ISO-NE Notes sheet)",
        },
    }
    return RawImport(load=load, cities=cities, source=source, dropped=dropped, notes=notes)


def _city(city_id: str) -> dict[str, Any]:
    name, sub, station, lat, lon = ZONES.get(city_id, TOTAL_CITY)
    return {
        "city_id": city_id,
        "name": name,
        "country": "US",
        "subdivision": sub,
        "timezone": TIMEZONE,
        "lat": lat,
        "lon": lon,
        "attrs": {"weather_station": station, "iso": "ISO-NE", "load_zone": city_id},
    }
