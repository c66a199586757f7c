"""Tetouan (Morocco), UCI #849: 3 distribution zones of one city + city weather, 2017.

``src`` is the folder ``../shared/data/tetouan_city`` or one of its Parquet files. The hourly file
(``tetouan_hourly.parquet``) is used when present; the native 10-minute file
(``tetouan_10min.parquet``) is aggregated to hourly means when it is the only one, or with
``from_10min=True``. A 10-minute label is taken as the start of its interval (undocumented), so
hour ``HH`` averages ``HH:00 … HH:50``; hours with fewer than 6 readings are reported in ``notes``.

Decisions:

* **Time zone**: the source clock is naive, continuous (every day has 24 h, also on Morocco's 2017
  clock-change days) and its UTC offset is unknown, so it is read on ``Etc/GMT`` (fixed UTC+0,
  Morocco's standard time in 2017). Cities keep the civil zone ``Africa/Casablanca`` in ``attrs``.
* **Units**: load kW (as in the paper; UCI states no unit) → MW (a mean over the hour, = MWh);
  ``temperature_c`` °C; ``humidity_pct`` from ``relative_humidity_pct``; ``wind_speed_ms`` from
  ``wind_speed`` (unit undocumented, likely m/s); ``solar_wm2`` from ``general_diffuse_flows`` (unit
  undocumented, assumed W/m²). ``diffuse_flows`` is not imported. The weather is one set of city
  measurements shared by the three zones.
* 31 Dec 2017 is absent from the source (the series ends 2017-12-30 23:50); nothing is invented.
* No holiday calendar in the source (Moroccan holidays must be computed by the features stage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from energy import schema
from energy.data.importers import RawImport, SourceError
from energy.data.importers._common import (
    check_known,
    file_hashes,
    read_parquet,
    validated,
)

HOURLY = "tetouan_hourly.parquet"
TEN_MIN = "tetouan_10min.parquet"
TIMEZONE = "Etc/GMT"
ZONES = ("zone_1", "zone_2", "zone_3")
READINGS_PER_HOUR = 6
# source column → canonical column (values copied, units noted in the module docstring)
WEATHER = {
    "temperature_c": "temperature_c",
    "relative_humidity_pct": "humidity_pct",
    "wind_speed": "wind_speed_ms",
    "general_diffuse_flows": "solar_wm2",
}
REQUIRED = ("timestamp_local", "region_id", "load_kw", *WEATHER)
CITY_ATTRS = {
    "city": "Tetouan",
    "civil_timezone": "Africa/Casablanca",
    "source_clock": "continuous local clock (24 h every day), UTC offset unknown; "
    "read as UTC+0, Morocco's 2017 standard time",
}


def read(src: Path, *, from_10min: bool | None = None) -> RawImport:
    """Read the Tetouan data set.

    Args:
        src: the ``tetouan_city`` folder, or ``tetouan_hourly.parquet`` / ``tetouan_10min.parquet``.
        from_10min: aggregate the 10-minute file even when the hourly one is there (None: use the
            hourly file when present).

    Returns:
        Load table (UTC hour-beginning, MW, °C, %, m/s, W/m²) for zone_1..zone_3 and cities table.
    """
    if from_10min is not None and not isinstance(from_10min, bool):
        raise SourceError(f"option from_10min: expected true or false, got {from_10min!r}")
    path = _choose(Path(src), from_10min)
    df = read_parquet(path, REQUIRED)
    df["region_id"] = df["region_id"].astype(str)
    check_known(df["region_id"], ZONES, path.name, "region_id")
    sub_hourly = bool((df["timestamp_local"].dt.floor("h") != df["timestamp_local"]).any())
    if from_10min and not sub_hourly:
        raise SourceError(
            f"{path.name}: option from_10min=true but it has no sub-hourly timestamps"
        )

    notes = [
        "time zone: continuous local clock with unknown offset read as Etc/GMT (UTC+0, Morocco "
        "standard time 2017); civil zone Africa/Casablanca kept in cities.attrs",
        "load kW (paper; unit not stated by UCI) -> MW",
        "wind_speed_ms from wind_speed: unit undocumented, likely m/s",
        "solar_wm2 from general_diffuse_flows: unit undocumented, assumed W/m²",
    ]
    if sub_hourly:
        df = _hourly_means(df)
        notes.append("hourly means of the 10-minute readings (labels taken as interval starts)")
    if "n_obs" in df:
        short = df[df["n_obs"] < READINGS_PER_HOUR]
        if len(short):
            first = ", ".join(
                f"{r.region_id} {r.timestamp_local}" for r in short.head(3).itertuples()
            )
            notes.append(
                f"{len(short)} zone-hours have fewer than {READINGS_PER_HOUR} 10-minute readings "
                f"(mean of the ones present), e.g. {first}"
            )
    last = df["timestamp_local"].max()
    if last < pd.Timestamp("2017-12-31 23:00"):
        notes.append(f"source ends {last} local (31 Dec 2017 absent); nothing added")

    load = pd.DataFrame(
        {
            schema.CITY: df["region_id"],
            schema.TIME: schema.to_utc(df["timestamp_local"], schema.TIME, assume_tz=TIMEZONE),
            schema.LOAD: schema.kw_to_mw(df["load_kw"].astype("float64")),
            **{dst: df[col].astype("float64") for col, dst in WEATHER.items()},
        }
    )
    cities = pd.DataFrame(
        {
            "city_id": list(ZONES),
            "name": [f"Tetouan {z.replace('_', ' ')}" for z in ZONES],
            "country": "MA",
            "subdivision": "",
            "timezone": TIMEZONE,
            "lat": 35.5785,
            "lon": -5.3684,
            "attrs": [CITY_ATTRS] * len(ZONES),
        }
    )
    cities = cities[cities["city_id"].isin(load[schema.CITY].unique())]
    load, cities = validated(load, cities, str(path))
    dropped: list[dict[str, Any]] = []
    if "diffuse_flows" in df:
        dropped.append(
            {
                "reason": "not part of the canonical load table",
                "rows": 0,
                "detail": "column diffuse_flows (solar_wm2 takes general_diffuse_flows)",
                "columns": ["diffuse_flows"],
            }
        )
    source = {
        "kind": "tetouan",
        "path": str(src),
        "files": file_hashes([path]),
        "resolution": "10min -> hourly mean" if sub_hourly else "hourly",
        "assumptions": {
            "timezone": f"{TIMEZONE} (fixed UTC+0); civil zone Africa/Casablanca",
            "load_unit": "kW -> MW",
            "wind_speed": "m/s (undocumented)",
            "solar": "general_diffuse_flows as W/m² (undocumented)",
        },
    }
    return RawImport(load=load, cities=cities, source=source, dropped=dropped, notes=notes)


def _choose(src: Path, from_10min: bool | None) -> Path:
    if src.is_file():
        return src
    if not src.is_dir():
        raise SourceError(f"tetouan: {str(src)!r} does not exist")
    hourly, ten = src / HOURLY, src / TEN_MIN
    if from_10min or (from_10min is None and not hourly.is_file()):
        if not ten.is_file():
            raise SourceError(f"tetouan: {str(src)!r} has no {TEN_MIN}")
        return ten
    if not hourly.is_file():
        raise SourceError(f"tetouan: {str(src)!r} has no {HOURLY} (or pass from_10min=true)")
    return hourly


def _hourly_means(df: pd.DataFrame) -> pd.DataFrame:
    """Mean of each zone's readings labelled HH:00 … HH:50; ``n_obs`` counts load readings."""
    cols = ["load_kw", *WEATHER]
    if "diffuse_flows" in df:
        cols.append("diffuse_flows")
    hour = df["timestamp_local"].dt.floor("h").rename("hour")
    g = df.groupby([df["region_id"], hour], observed=True, sort=True)
    out = g[cols].mean()
    out["n_obs"] = g["load_kw"].count()
    return out.reset_index().rename(columns={"hour": "timestamp_local"})
