"""Your own data, already in the canonical schema: a load table, a cities table, optional events.

* **Load** (``src``): CSV or Parquet with ``city_id, timestamp, load_mw`` and any of the optional
  schema columns (``temperature_c``, ``dewpoint_c``, ``humidity_pct``, ``wind_speed_ms``,
  ``solar_wm2``, ``is_holiday``). Timestamps are **hour-beginning**; with a UTC offset (any
  offset, also mixed across DST) they are converted to UTC, naive ones need ``assume_tz`` (IANA).
  ``load_mw`` is in ``load_unit`` (mw, kw, w, gw) and temperatures in ``temp_unit`` (c, f); both
  are normalised to MW and °C. Other columns are not imported (listed in ``dropped`` as columns);
  so are ``load_raw_mw``/``quality``, which cleaning recomputes.
* **Cities** (``cities``): YAML (a list of mappings, or a mapping ``city_id → attributes``, at the
  top level or under a top-level ``cities:`` key), CSV or Parquet with at least ``city_id,
  country, timezone``. Keys that are not canonical columns go into the city's ``attrs`` JSON
  object.
* **Events** (``events``): CSV, Parquet or YAML (a list of mappings, optionally under
  ``events:``) with ``city_id`` (or ``*``), ``start``, ``end`` (exclusive), ``name``, ``kind`` and
  optional ``direction``; naive times use ``assume_tz``. A header-only events file means "no
  events".

Every problem raises :class:`SourceError` with one line naming the file, the column and the value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from energy import schema
from energy.data.importers import RawImport, SourceError
from energy.data.importers._common import file_hashes

NA_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A"]
LOAD_SUFFIXES = (".csv", ".parquet")
TABLE_SUFFIXES = (".csv", ".parquet", ".yaml", ".yml")
LOAD_COLUMNS = (*schema.LOAD_REQUIRED, *schema.WEATHER_COLUMNS, schema.HOLIDAY)
CLEANING_COLUMNS = (schema.LOAD_RAW, schema.QUALITY)


def read(
    src: Path,
    cities: Path,
    events: Path | None = None,
    load_unit: str = "mw",
    temp_unit: str = "c",
    assume_tz: str | None = None,
) -> RawImport:
    """Read a canonical load table plus its cities (and events) files.

    Args:
        src: load table, CSV or Parquet.
        cities: cities table, YAML, CSV or Parquet.
        events: events table, CSV, Parquet or YAML.
        load_unit: unit of the ``load_mw`` column in the file (converted to MW).
        temp_unit: unit of ``temperature_c``/``dewpoint_c`` in the file (converted to °C).
        assume_tz: IANA zone of naive timestamps (load and events).
    """
    if str(load_unit).lower() not in schema.LOAD_UNITS:
        raise SourceError(
            f"load_unit: unknown unit {load_unit!r} "
            f"(expected one of {', '.join(schema.LOAD_UNITS)})"
        )
    if str(temp_unit).lower() not in schema.TEMPERATURE_UNITS:
        raise SourceError(f"temp_unit: unknown unit {temp_unit!r} (expected 'c' or 'f')")
    if assume_tz is not None and not schema.is_valid_timezone(assume_tz):
        raise SourceError(
            f"assume_tz: unknown time zone {assume_tz!r} (expected an IANA name like "
            "'America/New_York')"
        )
    src, cities = Path(src), Path(cities)
    df = _read_table(src, LOAD_SUFFIXES, "load")
    _require(df, schema.LOAD_REQUIRED, src)
    dropped = _drop_columns(df)
    df = df[[c for c in df.columns if c in LOAD_COLUMNS]]
    try:
        df = schema.normalise_units(df, load_unit, temp_unit)
        df[schema.TIME] = schema.to_utc(df[schema.TIME], schema.TIME, assume_tz)
        load = schema.validate_load(df, allow_negative_load=True)  # cleaning masks them
    except schema.SchemaError as e:
        raise SourceError(f"{src}: {e}") from e

    city_df = _attrs_from_extra_columns(_read_table(cities, TABLE_SUFFIXES, "cities"), cities)
    try:
        city_table = schema.validate_cities(city_df)
        schema.check_cities_cover(load, city_table)
    except schema.SchemaError as e:
        raise SourceError(f"{cities}: {e}") from e

    notes = [
        "timestamps read as hour-beginning"
        + (f"; naive ones on {assume_tz}" if assume_tz else "; UTC offsets in the file"),
        f"units: load {load_unit} -> MW, temperature °{temp_unit.upper()} -> °C"
        if (str(load_unit).lower(), str(temp_unit).lower()) != ("mw", "c")
        else "units: load already MW, temperatures already °C",
    ]
    unused = sorted(set(city_table["city_id"]) - set(load[schema.CITY]))
    if unused:
        notes.append(f"{len(unused)} cities have no load rows (kept): {', '.join(unused[:5])}")
    files = [src, cities]
    event_table = None
    if events is not None:
        events = Path(events)
        files.append(events)
        event_table = _read_events(events, city_table["city_id"], assume_tz, notes)
    source = {
        "kind": "canonical",
        "path": str(src),
        "cities": str(cities),
        "events": str(events) if events is not None else None,
        "files": file_hashes(files),
        "options": {"load_unit": load_unit, "temp_unit": temp_unit, "assume_tz": assume_tz},
    }
    return RawImport(
        load=load,
        cities=city_table,
        events=event_table,
        source=source,
        dropped=dropped,
        notes=notes,
    )


def _read_table(path: Path, suffixes: tuple[str, ...], table: str) -> pd.DataFrame:
    """Read CSV / Parquet / YAML; missing, empty and unsupported files fail with one line."""
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    if not path.is_file():
        raise SourceError(f"{path}: not a file")
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise SourceError(
            f"{path}: unsupported file type {suffix or '(none)'!r} for the {table} table "
            f"(expected {', '.join(suffixes)})"
        )
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: file is empty (0 bytes)")
    try:
        if suffix == ".csv":
            df = _read_csv(path)
        elif suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = _yaml_table(path, table)
    except (OSError, ValueError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise SourceError(f"{path}: cannot read {table} table ({' '.join(str(e).split())})") from e
    if len(df) == 0:
        what = "has a header but no rows" if suffix == ".csv" else "has no rows"
        raise SourceError(f"{path}: file {what}")
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    """Ids stay text ("007" is not 7, "NA" is Namibia); NA markers only in other columns."""
    header = pd.read_csv(path, nrows=0).columns
    ids = [c for c in header if c == "city_id"]
    df = pd.read_csv(
        path,
        dtype=dict.fromkeys(ids, str),
        keep_default_na=False,
        na_values={c: NA_VALUES for c in header if c not in ids},
    )
    for c in ids:
        df[c] = df[c].replace("", np.nan)
    return df


def _yaml_table(path: Path, table: str) -> pd.DataFrame:
    doc = _unwrap(yaml.safe_load(path.read_text()), table, path)
    if isinstance(doc, list) and all(isinstance(r, dict) for r in doc):
        return pd.DataFrame(doc)
    if table == "cities" and isinstance(doc, dict):
        rows = []
        for city_id, attrs in doc.items():
            if attrs is not None and not isinstance(attrs, dict):
                raise SourceError(f"{path}: city {city_id!r}: expected a mapping, got {attrs!r}")
            rows.append({"city_id": str(city_id), **(attrs or {})})
        return pd.DataFrame(rows)
    expected = "a list of mappings" + (
        " or a mapping city_id → attributes" if table == "cities" else ""
    )
    raise SourceError(f"{path}: expected {expected}, got {type(doc).__name__}")


def _unwrap(doc: object, table: str, path: Path) -> object:
    """The rows under a top-level key named after the table (``cities:`` / ``events:``), a
    natural way to write the file; a document without that key is returned as it is."""
    if not isinstance(doc, dict) or table not in doc:
        return doc
    rows = doc[table]
    listed = isinstance(rows, list)
    by_id = isinstance(rows, dict) and all(v is None or isinstance(v, dict) for v in rows.values())
    if not (listed or by_id):  # e.g. a city whose id is "cities": a mapping of attributes
        return doc
    if len(doc) > 1:
        other = next(k for k in doc if k != table)
        raise SourceError(
            f"{path}: unexpected top-level key {other!r} next to {table!r} "
            f"(put the {table} under {table!r} only)"
        )
    return rows


def _require(df: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    for col in columns:
        if col not in df.columns:
            raise SourceError(
                f"{path}: missing required column {col!r} (have: {', '.join(map(str, df.columns))})"
            )


def _drop_columns(df: pd.DataFrame) -> list[dict[str, Any]]:
    """``dropped`` entries (0 rows) for the columns that are not imported."""
    out = []
    cleaning = [c for c in df.columns if c in CLEANING_COLUMNS]
    other = [c for c in df.columns if c not in LOAD_COLUMNS and c not in CLEANING_COLUMNS]
    for cols, reason in (
        (cleaning, "produced by cleaning; recomputed there"),
        (other, "not a canonical load column"),
    ):
        if cols:
            out.append(
                {
                    "reason": reason,
                    "rows": 0,
                    "detail": "columns " + ", ".join(cols),
                    "columns": cols,
                }
            )
    return out


def _attrs_from_extra_columns(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Fold non-canonical city columns into each city's ``attrs`` object."""
    df = df.reset_index(drop=True)
    extra = [c for c in df.columns if c not in schema.CITY_COLUMNS]
    base = df["attrs"] if "attrs" in df else pd.Series([None] * len(df))
    merged = []
    for i, value in enumerate(base):
        if isinstance(value, str) and value.strip():
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = None
        if value is not None and not _is_na(value) and not isinstance(value, dict):
            raise SourceError(f"{path}: column 'attrs', row {i}: not a JSON object: {base[i]!r}")
        attrs = {c: _plain(df.at[i, c]) for c in extra if not _is_na(df.at[i, c])}
        merged.append({**attrs, **(value if isinstance(value, dict) else {})})
    out = df.drop(columns=extra)
    out["attrs"] = merged
    return out


def _is_na(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _plain(value: object) -> object:
    """A JSON-serialisable copy (numpy scalars → Python, dates → ISO text)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)


def _read_events(
    path: Path, city_ids: pd.Series, assume_tz: str | None, notes: list[str]
) -> pd.DataFrame:
    try:
        df = _read_table(path, TABLE_SUFFIXES, "events")
    except SourceError as e:
        if "has a header but no rows" not in str(e):
            raise
        notes.append(f"{path.name}: no events (header only)")
        return schema.validate_events(pd.DataFrame())
    _require(df, schema.EVENT_REQUIRED, path)
    try:
        for col in ("start", "end"):
            df[col] = schema.to_utc(df[col], col, assume_tz)
        return schema.validate_events(df, city_ids=city_ids)
    except schema.SchemaError as e:
        raise SourceError(f"{path}: {e}") from e
