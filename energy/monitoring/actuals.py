"""Actuals: observed load (and weather) arriving after the forecasts, late or revised.

``energy actuals ingest FILE`` and ``POST /v1/actuals`` both end here. A file is read and checked
exactly as ``energy data import canonical`` reads its load table (same reader, unit conversion,
UTC parsing and :func:`energy.schema.validate_load`), except that the load may not be missing.
Rows upsert on (city, hour): a new hour is inserted, a changed value is a revision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from energy import schema
from energy.data.importers import SourceError
from energy.data.importers.canonical import LOAD_COLUMNS, LOAD_SUFFIXES, _read_table, _require
from energy.monitoring.store import Store

KEEP = (schema.CITY, schema.TIME, schema.LOAD, schema.TEMP)


def validate_actuals(
    df: pd.DataFrame, *, load_unit: str = "mw", temp_unit: str = "c", assume_tz: str | None = None
) -> pd.DataFrame:
    """Canonical actuals (``city_id``, ``timestamp`` UTC, ``load_mw`` MW, ``temperature_c`` °C).

    Raises:
        energy.schema.SchemaError: one line naming the column, the row and the value.
    """
    df = df[[c for c in df.columns if c in LOAD_COLUMNS]]
    df = schema.normalise_units(df, load_unit, temp_unit)
    if schema.TIME in df:
        df[schema.TIME] = schema.to_utc(df[schema.TIME], schema.TIME, assume_tz)
    out = schema.validate_load(df, allow_missing_load=False)
    return out[[c for c in KEEP if c in out.columns]]


def read_actuals(
    path: str | Path, *, load_unit: str = "mw", temp_unit: str = "c", assume_tz: str | None = None
) -> pd.DataFrame:
    """Read a CSV or Parquet actuals file in the canonical load schema.

    Raises:
        SourceError: the file is missing, unreadable or invalid (one line naming file, column,
            row and value).
    """
    src = Path(path)
    df = _read_table(src, LOAD_SUFFIXES, "actuals")
    _require(df, schema.LOAD_REQUIRED, src)
    try:
        return validate_actuals(df, load_unit=load_unit, temp_unit=temp_unit, assume_tz=assume_tz)
    except schema.SchemaError as e:
        raise SourceError(f"{src}: {e}") from e


def ingest(store: Store, actuals: pd.DataFrame) -> dict[str, Any]:
    """Upsert validated actuals; returns counts and the UTC span."""
    counts = store.upsert_actuals(actuals)
    span = (actuals[schema.TIME].min(), actuals[schema.TIME].max())
    return {
        **counts,
        "rows": len(actuals),
        "cities": int(actuals[schema.CITY].nunique()),
        "span_utc": [t.isoformat() for t in span],
    }


def ingest_file(store: Store, path: str | Path, **options: Any) -> dict[str, Any]:
    """:func:`read_actuals` then :func:`ingest`."""
    return ingest(store, read_actuals(path, **options))


def ingest_records(store: Store, records: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON rows (the API's body) → validated actuals → upsert.

    Raises:
        energy.schema.SchemaError: an invalid row (named).
    """
    if not records:
        raise schema.SchemaError("actuals: no rows")
    return ingest(store, validate_actuals(pd.DataFrame.from_records(records)))
