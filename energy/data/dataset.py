"""A data set on disk: one directory, canonical tables, a manifest and a quality report.

Layout::

    DIR/load.parquet      canonical load table (see energy.schema), cleaned
    DIR/cities.parquet    cities table
    DIR/events.parquet    events table (optional)
    DIR/manifest.json     source, import command, row counts, content hash, quality summary
    DIR/quality.json      the full cleaning report (every changed, masked or dropped row, and why)

A data set directory holds these files and nothing else: that is how ``energy data import``
recognises a folder it may replace (see :func:`foreign_content`).

The content hash is computed from the table *values* (not the Parquet bytes), so it does not change
with the pyarrow version that wrote the files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from energy import schema
from energy.data import output
from energy.data.output import write_dir
from energy.versions import package_versions

LOAD_FILE = "load.parquet"
CITIES_FILE = "cities.parquet"
EVENTS_FILE = "events.parquet"
MANIFEST_FILE = "manifest.json"
QUALITY_FILE = "quality.json"
MANIFEST_VERSION = 1
DATASET_FILES = frozenset({LOAD_FILE, CITIES_FILE, EVENTS_FILE, MANIFEST_FILE, QUALITY_FILE})


class DatasetError(ValueError):
    """A data set directory is missing or incomplete."""


@dataclass
class Dataset:
    """Canonical tables held in memory. ``load`` is sorted by (city_id, timestamp)."""

    load: pd.DataFrame
    cities: pd.DataFrame
    events: pd.DataFrame = field(default_factory=lambda: schema.validate_events(pd.DataFrame()))
    manifest: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)

    @property
    def city_ids(self) -> list[str]:
        return sorted(self.load[schema.CITY].unique().tolist())

    def timezone_of(self, city_id: str) -> str:
        row = self.cities.loc[self.cities["city_id"] == city_id, "timezone"]
        if row.empty:
            raise KeyError(f"city_id {city_id!r} not in the cities table")
        return str(row.iloc[0])

    def select(self, cities: list[str] | None) -> Dataset:
        """A view restricted to some cities (all when ``cities`` is None)."""
        if not cities:
            return self
        unknown = sorted(set(cities) - set(self.city_ids))
        if unknown:
            raise DatasetError(
                f"--cities: unknown city_id {unknown[0]!r} (have {', '.join(self.city_ids)})"
            )
        keep = self.load[schema.CITY].isin(cities)
        ev = self.events
        ev = ev[ev["city_id"].isin([*cities, schema.ALL_CITIES])] if len(ev) else ev
        return Dataset(
            load=self.load[keep].reset_index(drop=True),
            cities=self.cities[self.cities["city_id"].isin(cities)].reset_index(drop=True),
            events=ev.reset_index(drop=True),
            manifest=self.manifest,
            quality=self.quality,
        )


def content_hash(
    load: pd.DataFrame, cities: pd.DataFrame, events: pd.DataFrame | None = None
) -> str:
    """sha256 over the values of the canonical tables (order-independent within a table)."""
    h = hashlib.sha256()
    for name, df, keys in (
        ("load", load, [schema.CITY, schema.TIME]),
        ("cities", cities, ["city_id"]),
        ("events", events, ["city_id", "start", "name"]),
    ):
        h.update(name.encode())
        if df is None or len(df) == 0:
            continue
        d = df.sort_values([k for k in keys if k in df.columns], kind="stable")
        d = d[sorted(d.columns)].reset_index(drop=True)
        h.update(",".join(d.columns).encode())
        h.update(pd.util.hash_pandas_object(d, index=False).to_numpy().tobytes())
    return h.hexdigest()


def build_manifest(
    ds: Dataset, *, source: dict[str, Any], command: str, quality_summary: dict[str, Any]
) -> dict[str, Any]:
    load = ds.load
    per_city = (
        load.groupby(schema.CITY, observed=True)
        .agg(
            rows=(schema.TIME, "size"),
            start=(schema.TIME, "min"),
            end=(schema.TIME, "max"),
            load_missing=(schema.LOAD, lambda s: int(s.isna().sum())),
        )
        .reset_index()
    )
    return {
        "manifest_version": MANIFEST_VERSION,
        "content_hash": content_hash(ds.load, ds.cities, ds.events),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "command": command,
        "rows": {
            "load": len(load),
            "cities": len(ds.cities),
            "events": len(ds.events),
        },
        "columns": list(load.columns),
        "span_utc": [str(load[schema.TIME].min()), str(load[schema.TIME].max())],
        "cities": [
            {
                "city_id": r[schema.CITY],
                "rows": int(r["rows"]),
                "start": str(r["start"]),
                "end": str(r["end"]),
                "load_missing": int(r["load_missing"]),
            }
            for r in per_city.to_dict("records")
        ],
        "quality_summary": quality_summary,
        "versions": package_versions(),
    }


def foreign_content(path: Path) -> str | None:
    """``None`` when ``path`` is a data set directory that this project wrote (its manifest and
    only the data set's own files), else why not, e.g. "it holds 'notes.txt'"."""
    names = sorted(p.name for p in path.iterdir())
    other = [n for n in names if n not in DATASET_FILES or not (path / n).is_file()]
    if other:
        more = f" and {len(other) - 1} more" if len(other) > 1 else ""
        return f"it holds {other[0]!r}{more}"
    if MANIFEST_FILE not in names:
        return f"it has no {MANIFEST_FILE}"
    try:
        manifest = json.loads((path / MANIFEST_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or not {"manifest_version", "content_hash"} <= set(manifest):
        return f"its {MANIFEST_FILE} is not a data set manifest"
    return None


def write_dataset(
    ds: Dataset,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write the tables, manifest and quality report to the folder ``out``, atomically.

    The files are written to a new folder next to ``out`` and renamed into place (see
    :mod:`energy.data.output`): an existing ``out`` is replaced only if it is empty or a data set
    written by this project, or with ``overwrite``; never if it is a file or holds an input.

    Args:
        overwrite: also replace a folder this project did not write.
        inputs: files and folders the data set was made from; ``out`` may not contain them.

    Raises:
        OutputError: ``out`` may not be written (the message names ``--out`` and the path).
    """

    def fill(tmp: Path) -> None:
        ds.load.to_parquet(tmp / LOAD_FILE, index=False, compression="zstd")
        ds.cities.to_parquet(tmp / CITIES_FILE, index=False)
        if len(ds.events):
            ds.events.to_parquet(tmp / EVENTS_FILE, index=False)
        for name, doc in ((MANIFEST_FILE, ds.manifest), (QUALITY_FILE, ds.quality)):
            (tmp / name).write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")

    return write_dir(
        Path(out),
        fill,
        inputs=[Path(p) for p in inputs],
        overwrite=overwrite,
        ours=foreign_content,
    )


def check_out(
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Fail early (before a long import) when :func:`write_dataset` would refuse ``out``."""
    output.check_out(
        Path(out), inputs=[Path(p) for p in inputs], overwrite=overwrite, ours=foreign_content
    )


def read_dataset(path: str | os.PathLike[str], *, verify: bool = False) -> Dataset:
    """Read a data set directory written by :func:`write_dataset`.

    Args:
        verify: recompute the content hash and fail if it differs from the manifest.
    """
    p = Path(path)
    if not p.is_dir():
        raise DatasetError(f"--data: {str(p)!r} is not a directory")
    for name in (LOAD_FILE, CITIES_FILE, MANIFEST_FILE):
        if not (p / name).is_file():
            raise DatasetError(
                f"--data: {str(p)!r} has no {name} (import data with `energy data import`)"
            )
    load = pd.read_parquet(p / LOAD_FILE)
    cities = pd.read_parquet(p / CITIES_FILE)
    events = (
        pd.read_parquet(p / EVENTS_FILE)
        if (p / EVENTS_FILE).is_file()
        else schema.validate_events(pd.DataFrame())
    )
    manifest = json.loads((p / MANIFEST_FILE).read_text())
    quality = json.loads((p / QUALITY_FILE).read_text()) if (p / QUALITY_FILE).is_file() else {}
    ds = Dataset(load=load, cities=cities, events=events, manifest=manifest, quality=quality)
    if verify:
        actual = content_hash(load, cities, events)
        if actual != manifest.get("content_hash"):
            raise DatasetError(
                f"--data: content hash of {str(p)!r} is {actual[:12]}…, manifest says "
                f"{str(manifest.get('content_hash'))[:12]}… (files changed after import)"
            )
    return ds


def _json_default(o: object) -> object:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (pd.Timestamp, datetime)):
        return o.isoformat()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
