"""Helpers shared by the importers: locating and reading source files, validation, holidays.

Every helper raises :class:`~energy.data.importers.SourceError` with a one-line message that names
the file (and, where there is one, the column and value).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from energy import schema
from energy.data.importers import SourceError, sha256_file


def locate(src: Path, filename: str, kind: str) -> Path:
    """The source file: ``src`` itself, or ``src/filename`` when ``src`` is a folder."""
    src = Path(src)
    if src.is_dir():
        path = src / filename
        if not path.is_file():
            raise SourceError(f"{kind}: {str(src)!r} has no {filename}")
        return path
    if src.is_file():
        return src
    raise SourceError(f"{kind}: {str(src)!r} does not exist")


def read_parquet(path: Path, required: Iterable[str]) -> pd.DataFrame:
    """Read a Parquet file and check that the ``required`` columns are there."""
    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise SourceError(
            f"{path}: not a readable Parquet file ({' '.join(str(e).split())})"
        ) from e
    require_columns(df, required, path.name)
    if len(df) == 0:
        raise SourceError(f"{path}: file has no rows")
    return df


def require_columns(df: pd.DataFrame, required: Iterable[str], where: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise SourceError(
            f"{where}: missing column {missing[0]!r} (have: {', '.join(map(str, df.columns))})"
        )


def check_known(values: pd.Series, known: Iterable[str], where: str, column: str) -> None:
    """Fail on the first value of ``values`` not in ``known`` (e.g. an unexpected region id)."""
    known = list(known)
    unknown = sorted(set(values.astype(str).unique()) - set(known))
    if unknown:
        raise SourceError(
            f"{where}: column {column!r}: unexpected value {unknown[0]!r} "
            f"(expected one of {', '.join(known)})"
        )


def as_bool(value: Any, option: str) -> bool:
    """An importer option that must be true/false (the CLI passes YAML scalars)."""
    if isinstance(value, bool):
        return value
    raise SourceError(f"option {option}: expected true or false, got {value!r}")


def as_list(value: Any, option: str) -> list[str] | None:
    """``None``, a list, or a comma-separated string → list of str."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise SourceError(f"option {option}: expected a list, got {value!r}")


def file_hashes(paths: Iterable[Path]) -> dict[str, str]:
    """``{file name: sha256}`` for the manifest."""
    return {p.name: sha256_file(p) for p in paths}


def holiday_flags(local_time: pd.Series, dates: Iterable[Any]) -> pd.Series:
    """True where the *local calendar date* of ``local_time`` is one of ``dates``.

    Args:
        local_time: naive local timestamps, or tz-aware ones already converted to the local zone.
        dates: holiday dates (anything ``pd.to_datetime`` reads).
    """
    day = local_time.dt.normalize()
    if day.dt.tz is not None:
        day = day.dt.tz_localize(None)
    holidays = pd.DatetimeIndex(pd.to_datetime(list(dates))).normalize().as_unit("us")
    return day.astype("datetime64[us]").isin(holidays)


def validated(
    load: pd.DataFrame, cities: pd.DataFrame, where: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply ``schema.validate_load``/``validate_cities``/``check_cities_cover``.

    Negative loads pass: cleaning masks and reports them (``negative_policy``), and fails the
    import when a city is mostly implausible.

    A :class:`~energy.schema.SchemaError` becomes a :class:`SourceError` prefixed with ``where``
    (the source file), so the user sees which file held the bad value.
    """
    try:
        load = schema.validate_load(load, allow_negative_load=True)  # cleaning masks them
        cities = schema.validate_cities(cities)
        schema.check_cities_cover(load, cities)
    except schema.SchemaError as e:
        raise SourceError(f"{where}: {e}") from e
    return load, cities


def count_by(values: pd.Series) -> dict[str, int]:
    """``{value: count}`` with plain ints, for JSON provenance."""
    return {str(k): int(v) for k, v in values.value_counts(sort=False).sort_index().items()}


def decimal_float64(values: pd.Series) -> pd.Series:
    """float64 copy of a column; float32 values become their shortest decimal (2842.32, not
    2842.320068), undoing the float32 cast of the shared converters. Integers pass exactly."""
    arr = values.to_numpy()
    if arr.dtype != np.float32:
        return values.astype("float64")
    finite = arr[np.isfinite(arr)]
    if np.array_equal(finite, np.round(finite)):
        return values.astype("float64")
    return pd.Series(arr.astype(str).astype("float64"), index=values.index, name=values.name)
