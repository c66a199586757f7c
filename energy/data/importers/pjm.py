"""PJM hourly load (Kaggle "Hourly Energy Consumption"): 12 regions, 1998-04 → 2018-08, no weather.

``src`` is the folder ``../shared/data/pjm_hourly`` (or ``pjm_hourly.parquet`` itself).

Decisions:

* **Time**: ``timestamp_utc`` (UTC, hour-beginning) is used as is. The shared ``convert.py`` derived
  it from PJM's hour-ending Eastern Prevailing Time labels (also for COMED/NI, which PJM reports in
  EPT). Hours missing in the source (DST fall-back labels before 2014, a few outages) stay missing:
  cleaning puts every city on a full hourly grid.
* **Units**: ``load_mw`` is already MW. There is no weather and no holiday column.
* **Regions are cities** although they sit at overlapping levels of PJM's hierarchy (zones,
  East/West regions, the old total): never sum them (``attrs.hierarchy_note``).
* Cities: ``America/New_York``, except COMED and NI (northern Illinois) on ``America/Chicago``;
  subdivision only for single-state zones; lat/lon NaN (service territories, no single point).
* Option ``regions``: import only these region ids; the others are listed in ``dropped``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from energy import schema
from energy.data.importers import RawImport, SourceError
from energy.data.importers._common import (
    as_list,
    check_known,
    count_by,
    decimal_float64,
    file_hashes,
    locate,
    read_parquet,
    validated,
)

FILE = "pjm_hourly.parquet"
# region → (long name, subdivision, timezone)
REGIONS: dict[str, tuple[str, str, str]] = {
    "AEP": ("American Electric Power", "", "America/New_York"),
    "COMED": ("Commonwealth Edison (Chicago)", "US-IL", "America/Chicago"),
    "DAYTON": ("Dayton Power & Light", "US-OH", "America/New_York"),
    "DEOK": ("Duke Energy Ohio/Kentucky", "", "America/New_York"),
    "DOM": ("Dominion Virginia Power", "US-VA", "America/New_York"),
    "DUQ": ("Duquesne Light (Pittsburgh)", "US-PA", "America/New_York"),
    "EKPC": ("East Kentucky Power Coop", "US-KY", "America/New_York"),
    "FE": ("FirstEnergy", "", "America/New_York"),
    "NI": ("Northern Illinois Hub (ends when COMED begins)", "US-IL", "America/Chicago"),
    "PJME": ("PJM East region", "", "America/New_York"),
    "PJMW": ("PJM West region", "", "America/New_York"),
    "PJM_Load": ("PJM total (old footprint)", "", "America/New_York"),
}
HIERARCHY_NOTE = "overlapping levels: do not sum"


def read(src: Path, *, regions: list[str] | str | None = None) -> RawImport:
    """Read the PJM hourly load.

    Args:
        src: the ``pjm_hourly`` folder or its Parquet file.
        regions: region ids to import (all 12 when None); a comma-separated string also works.

    Returns:
        Load table (UTC hour-beginning, MW; no weather, no holidays) and cities table.
    """
    wanted = as_list(regions, "regions")
    if wanted is not None:
        unknown = [r for r in wanted if r not in REGIONS]
        if unknown or not wanted:
            what = f"unknown region {unknown[0]!r}" if unknown else "no region given"
            raise SourceError(f"option regions: {what} (expected some of {', '.join(REGIONS)})")
    path = locate(src, FILE, "pjm")
    df = read_parquet(path, ["timestamp_utc", "region_id", "load_mw"])
    df["region_id"] = df["region_id"].astype(str)
    check_known(df["region_id"], REGIONS, path.name, "region_id")
    if df["timestamp_utc"].dt.tz is None:
        raise SourceError(f"{path.name}: column 'timestamp_utc' has no time zone (expected UTC)")

    dropped: list[dict[str, Any]] = []
    if wanted is not None:
        other = ~df["region_id"].isin(wanted)
        if other.any():
            counts = count_by(df.loc[other, "region_id"])
            dropped.append(
                {
                    "reason": "region not selected (option regions)",
                    "rows": int(other.sum()),
                    "detail": ", ".join(f"{k} {v}" for k, v in counts.items()),
                }
            )
            df = df[~other].reset_index(drop=True)

    load = pd.DataFrame(
        {
            schema.CITY: df["region_id"],
            schema.TIME: df["timestamp_utc"],
            schema.LOAD: decimal_float64(df["load_mw"]),
        }
    )
    cities = pd.DataFrame([_city(r) for r in sorted(load[schema.CITY].unique())])
    load, cities = validated(load, cities, str(path))
    notes = [
        "timestamps: timestamp_utc used as is (UTC hour-beginning, from PJM's hour-ending EPT "
        "labels); missing hours (DST fall-back before 2014, outages) stay missing",
        "regions overlap (zones, East/West regions, old PJM total): do not sum them",
        "no weather and no holiday calendar in the source",
    ]
    source = {
        "kind": "pjm",
        "path": str(src),
        "files": file_hashes([path]),
        "regions": wanted,
        "rows_by_region": count_by(load[schema.CITY]),
        "assumptions": {
            "timezone": "UTC in source; cities on America/New_York (COMED, NI: America/Chicago)",
            "load_unit": "MW as published",
        },
    }
    return RawImport(load=load, cities=cities, source=source, dropped=dropped, notes=notes)


def _city(region: str) -> dict[str, Any]:
    name, sub, tz = REGIONS[region]
    return {
        "city_id": region,
        "name": name,
        "country": "US",
        "subdivision": sub,
        "timezone": tz,
        "attrs": {"name": name, "hierarchy_note": HIERARCHY_NOTE, "iso": "PJM"},
    }
