"""The GEFCom2012 competition CSV layouts, parsed from bytes (a folder file or a zip member).

* ``Load_history.csv`` / ``Load_solution.csv`` / ``temperature_history.csv``: one row per id
  (zone or station) and day, ``id, year, month, day, h1..h24`` where ``hN`` is hour-ending N of
  the local day (thousands separators in the load history: ``"16,853"``).
* ``temperature_solution.csv``: one row per station and hour, ``hour`` = hour ending 1..24.
* ``Holiday_List.csv``: one row per holiday, one column per year, cells like
  ``"Thursday, January 1"`` (the column's year) or ``"Friday, December 31, 2004"``.

Errors are :class:`SourceError` naming the file, the column, the line and the value.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from energy.data.importers import SourceError
from energy.data.importers._common import require_columns

HOURS = [f"h{i}" for i in range(1, 25)]


def wide(df: pd.DataFrame, id_col: str, name: str) -> pd.DataFrame:
    """``id, year, month, day, h1..h24`` (h = hour ending) → long ``id, local, value``."""
    cols = [id_col, "year", "month", "day", *HOURS]
    require_columns(df, cols, name)
    _numeric(df, cols, name)
    dates = _dates(df, name).to_numpy()
    hours = np.arange(24) * np.timedelta64(1, "h")
    return pd.DataFrame(
        {
            "id": np.repeat(df[id_col].to_numpy(dtype="int64"), 24),
            "local": (dates[:, None] + hours).ravel(),
            "value": df[HOURS].to_numpy(dtype="float64").ravel(),
        }
    )


def long_solution(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """temperature_solution.csv: one row per station and hour (``hour`` = hour ending 1..24)."""
    cols = ["station_id", "year", "month", "day", "hour", "T0_p1"]
    require_columns(df, cols, name)
    _numeric(df, cols, name)
    bad = ~df["hour"].between(1, 24)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SourceError(f"{name}: column 'hour', line {i + 2}: value {df['hour'].iloc[i]!r}")
    local = _dates(df, name) + pd.to_timedelta(df["hour"] - 1, unit="h")
    return pd.DataFrame(
        {"id": df["station_id"].astype("int64"), "local": local, "value": df["T0_p1"]}
    )


def _numeric(df: pd.DataFrame, cols: list[str], name: str) -> None:
    for col in cols:
        if pd.api.types.is_numeric_dtype(df[col]):
            continue
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() & df[col].notna()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SourceError(
                f"{name}: column {col!r}, line {i + 2}: value {df[col].iloc[i]!r} is not a number"
            )
        df[col] = num
    for col in cols[:4]:  # id, year, month, day
        if df[col].isna().any():
            i = int(np.flatnonzero(df[col].isna())[0])
            raise SourceError(f"{name}: column {col!r}, line {i + 2}: empty")


def _dates(df: pd.DataFrame, name: str) -> pd.Series:
    ymd = df[["year", "month", "day"]].astype("int64")
    dates = pd.to_datetime(ymd, errors="coerce")
    if dates.isna().any():
        i = int(np.flatnonzero(dates.isna())[0])
        y, m, d = ymd.iloc[i]
        raise SourceError(
            f"{name}: columns 'year', 'month', 'day', line {i + 2}: value {y}-{m}-{d} is not a date"
        )
    return dates


def combine(
    hist: pd.DataFrame, sol: pd.DataFrame, h_name: str, s_name: str, what: str
) -> pd.DataFrame:
    """Outer-join history and solution; a value present in both files is an error."""
    for part, name in ((hist, h_name), (sol, s_name)):
        dup = part.duplicated(["id", "local"])
        if dup.any():
            r = part[dup].iloc[0]
            raise SourceError(f"{name}: {what} {r['id']} {r['local']} appears twice")
    m = hist.merge(sol, on=["id", "local"], how="outer", suffixes=("_h", "_s"))
    both = m["value_h"].notna() & m["value_s"].notna()
    if both.any():
        r = m[both].iloc[0]
        raise SourceError(f"{s_name}: {what} {r['id']} {r['local']} (local) also in {h_name}")
    return m.assign(value=m["value_h"].combine_first(m["value_s"]))


def holiday_dates(df: pd.DataFrame, name: str) -> list[pd.Timestamp]:
    """Cells like "Thursday, January 1" (year from the column) or "Friday, December 31, 2004"."""
    out = []
    for col in df.columns[1:]:
        if not str(col).strip().isdigit():
            raise SourceError(f"{name}: column {col!r}: expected a year as column header")
        for i, cell in enumerate(df[col]):
            if not isinstance(cell, str) or not cell.strip():
                continue
            m = re.match(r"^\w+,\s*(\w+)\s+(\d+)(?:,\s*(\d{4}))?$", cell.strip())
            day = f"{m.group(1)} {m.group(2)} {m.group(3) or str(col).strip()}" if m else ""
            try:
                out.append(pd.to_datetime(day, format="%B %d %Y"))
            except ValueError as e:
                raise SourceError(
                    f"{name}: column {col!r}, line {i + 2}: cannot parse {cell!r} as a date"
                ) from e
    return out
