"""Importers: read a source format and return canonical (validated, not yet cleaned) tables.

Each importer module exposes ``read(src: Path, **options) -> RawImport``. The registry below maps
the ``KIND`` of ``energy data import KIND SRC`` to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class RawImport:
    """What an importer hands to cleaning.

    Attributes:
        load: canonical load table (``energy.schema.validate_load`` already applied); UTC,
            hour-beginning, MW, °C. Rows the source marks as missing stay, with NaN load.
        cities: canonical cities table (``validate_cities`` applied).
        events: canonical events table or None.
        source: provenance for the manifest: ``{"kind", "path", "files": {name: sha256}, ...}``.
        dropped: rows of the source deliberately not imported, each
            ``{"reason": str, "rows": int, "detail": str}``; nothing is dropped silently.
        notes: facts about the import worth showing in the quality report (assumed time zone...).
    """

    load: pd.DataFrame
    cities: pd.DataFrame
    events: pd.DataFrame | None = None
    source: dict[str, Any] = field(default_factory=dict)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class SourceError(ValueError):
    """The source cannot be imported; the message says which file/column/value and why."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def registry() -> dict[str, Callable[..., RawImport]]:
    """KIND → reader. Imported lazily so that `energy --help` stays fast."""
    from energy.data.importers import bigdeal, canonical, gefcom2012, isone, pjm, tetouan

    return {
        "gefcom2012": gefcom2012.read,
        "isone": isone.read,
        "pjm": pjm.read,
        "tetouan": tetouan.read,
        "bigdeal": bigdeal.read,
        "canonical": canonical.read,
    }
