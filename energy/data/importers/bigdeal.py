"""BigDEAL Challenge 2022: 3 anonymised US local distribution companies (2015 → 2018) and, from the
qualifying match, one other utility's system load (2002 → 2007), hourly.

``src`` is the folder ``../shared/data/bigdeal2022``. Option ``which`` picks ``"final"`` (default:
``ldc1``..``ldc3`` from ``bigdeal2022_final_hourly.parquet``), ``"qualifying"``
(``qualifying_system`` from ``bigdeal2022_qualifying_hourly.parquet``) or ``"both"``.

Decisions:

* **Time zone**: naive local hour-beginning clock, undisclosed, with 24 h every day (the DST
  spring-forward hour is present, interpolated) → read on ``Etc/GMT+5`` (fixed UTC−5), as
  GEFCom2012.
* **Units**: the source states no load unit. Final LDC load is taken as **MW** (58–3,028);
  qualifying system load as **kW** (492,907–3,249,132) → MW. Station temperatures °F → °C.
* **Temperature**: ``temperature_c`` is the mean of the stations (t1..t6 final, t1..t4 qualifying);
  which station belongs to which LDC is undisclosed.
* **Hidden periods**: rows of the challenge's evaluation periods (Nov–Dec 2018 final, 2007
  qualifying) have weather but no load; they are kept with NaN load and counted in ``notes``.
* The 2018 day-ahead temperature forecasts (``temp_f_forecast_t*``) are not part of the canonical
  load table: listed in ``dropped`` as columns (0 rows). ``weekday_source`` is checked against the
  timestamps and not imported.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from energy import schema
from energy.data.importers import RawImport, SourceError
from energy.data.importers._common import (
    check_known,
    decimal_float64,
    file_hashes,
    read_parquet,
    validated,
)

FINAL = "bigdeal2022_final_hourly.parquet"
QUALIFYING = "bigdeal2022_qualifying_hourly.parquet"
TIMEZONE = "Etc/GMT+5"
WHICH = ("final", "qualifying", "both")
# part → (file, city ids, load unit, load factor to MW)
PARTS: dict[str, tuple[str, tuple[str, ...], str, float]] = {
    "final": (FINAL, ("ldc1", "ldc2", "ldc3"), "MW", 1.0),
    "qualifying": (QUALIFYING, ("qualifying_system",), "kW", 1e-3),
}
CLOCK = "naive local clock, 24 h every day, offset undisclosed; UTC-5 assumed"


def read(src: Path, *, which: str = "final") -> RawImport:
    """Read the BigDEAL 2022 data.

    Args:
        src: the ``bigdeal2022`` folder.
        which: ``"final"``, ``"qualifying"`` or ``"both"``.

    Returns:
        Load table (UTC hour-beginning, MW, °C) and cities table; hidden-period rows have NaN load.
    """
    if which not in WHICH:
        raise SourceError(f"option which: expected one of {', '.join(WHICH)}, got {which!r}")
    src = Path(src)
    if not src.is_dir():
        raise SourceError(
            f"bigdeal: {str(src)!r} is not a folder (expected the bigdeal2022 folder)"
        )
    parts = list(PARTS) if which == "both" else [which]
    loads, cities, dropped, notes, files = [], [], [], [], []
    for part in parts:
        name, ids, unit, factor = PARTS[part]
        path = src / name
        if not path.is_file():
            raise SourceError(f"bigdeal: {str(src)!r} has no {name}")
        files.append(path)
        load, extra_dropped, extra_notes = _read_part(path, part, ids, unit, factor)
        loads.append(load)
        dropped += extra_dropped
        notes += extra_notes
        cities += [_city(c, part, unit) for c in ids]
    load, city_table = validated(
        pd.concat(loads, ignore_index=True), pd.DataFrame(cities), str(src)
    )
    notes.insert(
        0,
        "time zone: naive local clock with 24 h every day read as Etc/GMT+5 (fixed UTC-5); "
        "the true offset is undisclosed",
    )
    source = {
        "kind": "bigdeal",
        "path": str(src),
        "files": file_hashes(files),
        "which": which,
        "assumptions": {
            "timezone": f"{TIMEZONE} (fixed UTC-5; source clock has 24 h every day)",
            "load_unit": "final: MW (not stated); qualifying: kW (not stated) -> MW",
            "temperature": "°F -> °C, mean of all stations",
        },
    }
    return RawImport(load=load, cities=city_table, source=source, dropped=dropped, notes=notes)


def _read_part(
    path: Path, part: str, ids: tuple[str, ...], unit: str, factor: float
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str]]:
    df = read_parquet(path, ["timestamp", "region_id", "load", "temp_f_t1"])
    df["region_id"] = df["region_id"].astype(str)
    check_known(df["region_id"], ids, path.name, "region_id")
    temps = sorted(c for c in df.columns if re.fullmatch(r"temp_f_t\d+", str(c)))
    forecasts = sorted(c for c in df.columns if str(c).startswith("temp_f_forecast_"))
    temp_f = pd.concat([decimal_float64(df[c]) for c in temps], axis=1).mean(axis=1, skipna=False)
    load = pd.DataFrame(
        {
            schema.CITY: df["region_id"],
            schema.TIME: schema.to_utc(df["timestamp"], schema.TIME, assume_tz=TIMEZONE),
            schema.LOAD: decimal_float64(df["load"]) * factor,
            schema.TEMP: schema.fahrenheit_to_celsius(temp_f),
        }
    )
    notes = [
        f"{part}: load unit not stated in the source, taken as {unit}"
        + (" -> MW" if unit != "MW" else ""),
        f"{part}: temperature_c = mean of {len(temps)} stations ({', '.join(temps)}), °F -> °C",
    ]
    no_load = df["load"].isna()
    if no_load.any():
        span = df.loc[no_load, "timestamp"]
        notes.append(
            f"{part}: {int(no_load.sum())} hidden-period rows, load NaN "
            f"(local {span.min()} → {span.max()}; the challenge's evaluation period, kept)"
        )
    if "weekday_source" in df:
        expected = (df["timestamp"].dt.day_of_week + 1) % 7 + 1  # 1 = Sunday … 7 = Saturday
        bad = int((df["weekday_source"] != expected).sum())
        notes.append(f"{part}: weekday_source disagrees with the timestamp on {bad} rows")
    dropped = []
    if forecasts:
        dropped.append(
            {
                "reason": "day-ahead temperature forecasts: not part of the canonical load table",
                "rows": 0,
                "detail": f"{path.name}: columns {', '.join(forecasts)} "
                f"({int(df[forecasts[0]].notna().sum())} non-null rows each)",
                "columns": forecasts,
            }
        )
    return load, dropped, notes


def _city(city_id: str, part: str, unit: str) -> dict[str, Any]:
    label = "qualifying system" if part == "qualifying" else city_id.upper().replace("LDC", "LDC ")
    return {
        "city_id": city_id,
        "name": f"BigDEAL 2022 {label}",
        "country": "US",
        "subdivision": "",
        "timezone": TIMEZONE,
        "attrs": {
            "source_clock": CLOCK,
            "match": part,
            "load_unit_assumed": unit,
            "note": "anonymised US utility; location undisclosed",
        },
    }
