"""Model package artifacts: write, verify and read the directory a trained model ships in.

No Ray and no MLflow here: a package is a plain directory::

    DIR/model/            the forecaster (Forecaster.save layout; members under model/members/)
    DIR/history.parquet   the last ``history_hours`` of canonical load rows per city (UTC, MW)
    DIR/cities.parquet    cities table (time zones, static features)
    DIR/events.parquet    special events, when the data set has any
    DIR/package.json      kind, config, trained-at, train end, history end, data hash, cities,
                          max_horizon_hours, members, metrics, package versions, and ``files``:
                          the sha256 of every other file of the package

``package.json`` is written last, so a reader that finds it finds a complete package. Reading
verifies ``files`` first (:func:`verify_package`): a file changed, missing, or added under
``model/`` after the package was written is refused by name before any of it is loaded. This
catches corruption and tampering of single files; it does not authenticate package.json itself
(SECURITY.md).
``max_horizon_hours`` is the one record of the longest horizon the package answers, derived from
its trained models (:attr:`energy.models.base.Forecaster.max_horizon`).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from energy import schema
from energy.data.dataset import Dataset
from energy.forecast.errors import ModelUnavailableError
from energy.forecast.package import HOUR, MODEL_DIR, PACKAGE_FILE, ModelPackage
from energy.models.base import MODEL_FILE, Forecaster
from energy.versions import package_versions

HISTORY_FILE = "history.parquet"
CITIES_FILE = "cities.parquet"
EVENTS_FILE = "events.parquet"
REQUIRED_FILES = (PACKAGE_FILE, HISTORY_FILE, CITIES_FILE, f"{MODEL_DIR}/{MODEL_FILE}")
DATA_FILES = (HISTORY_FILE, CITIES_FILE, EVENTS_FILE)


def write_package(
    model: Forecaster,
    data: Dataset,
    out: str | os.PathLike[str],
    *,
    meta: dict[str, Any] | None = None,
    history_hours: int | None = None,
) -> Path:
    """Save ``model`` and the recent history of ``data`` as a package under ``out``.

    Args:
        model: a fitted forecaster.
        data: the data it was trained on (or later); its last ``history_hours`` per city are kept.
        out: the package directory (created).
        meta: extra package.json entries (config name, metrics, protocol, ...).
        history_hours: hours of load to keep per city; default and minimum: what the model needs
            plus a week.

    Returns:
        The package directory.
    """
    p = Path(out)
    model.save(p / MODEL_DIR)
    need = model.capabilities.min_history_hours + 168
    hours = max(int(history_hours or 0), need)
    load = data.load
    end = load.groupby(schema.CITY)[schema.TIME].transform("max")
    recent = load[load[schema.TIME] > end - hours * HOUR].reset_index(drop=True)
    recent.to_parquet(p / HISTORY_FILE, index=False)
    data.cities.to_parquet(p / CITIES_FILE, index=False)
    if len(data.events):
        data.events.to_parquet(p / EVENTS_FILE, index=False)
    info = {
        "kind": model.kind,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_end": getattr(model, "train_end_", None),
        "history_end": str(load[schema.TIME].max()),
        "history_hours": hours,
        "data_hash": data.manifest.get("content_hash"),
        "cities": sorted(load[schema.CITY].unique().tolist()),
        "max_horizon_hours": model.max_horizon,
        "members": list(getattr(model, "members_", {})),
        "metrics": {},
        "versions": package_versions(),
        **(meta or {}),
        "files": file_digests(p),  # after everything but package.json is written
    }
    (p / PACKAGE_FILE).write_text(json.dumps(info, indent=2, default=str) + "\n")
    return p


def file_digests(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{relative path (POSIX): sha256 hex}`` of the files a reader loads: every file under
    ``model/`` and the data files (other files beside them, e.g. a run's ``backtest/`` or
    ``train.json``, are not part of the package)."""
    p = Path(path)
    files = sorted(f for f in (p / MODEL_DIR).rglob("*") if f.is_file())
    files += [p / name for name in DATA_FILES if (p / name).is_file()]
    return {f.relative_to(p).as_posix(): _sha256(f) for f in files}


def _sha256(f: Path) -> str:
    h = hashlib.sha256()
    with f.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_package(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check that ``path`` holds a complete, unmodified package without loading the model.

    Returns:
        The package.json contents.

    Raises:
        ModelUnavailableError: a file is missing, package.json is not a JSON object or records no
            ``files`` manifest, or a file differs from, is missing from or is not in the manifest
            (the message names the file).
    """
    p = Path(path)
    missing = [f for f in REQUIRED_FILES if not (p / f).is_file()]
    if missing:
        raise ModelUnavailableError(f"model package: {str(p)!r} has no {missing[0]}", str(p))
    try:
        meta = json.loads((p / PACKAGE_FILE).read_text())
    except json.JSONDecodeError as e:
        raise ModelUnavailableError(
            f"model package: {PACKAGE_FILE} of {str(p)!r} is not JSON ({e})", str(p)
        ) from None
    if not isinstance(meta, dict):
        raise ModelUnavailableError(
            f"model package: {PACKAGE_FILE} of {str(p)!r} is not a JSON object", str(p)
        )
    _check_files(p, meta.get("files"))
    return meta


def _check_files(p: Path, recorded: Any) -> None:
    """The package's files are exactly those of its manifest, byte for byte."""
    if not isinstance(recorded, dict) or not recorded:
        raise ModelUnavailableError(
            f"model package: {PACKAGE_FILE} of {str(p)!r} records no sha256 manifest ('files'); "
            "packages written before integrity checks must be written again (energy train)",
            str(p),
        )
    actual = file_digests(p)
    for rel in sorted(set(recorded) | set(actual)):
        if rel not in actual:
            problem = "is missing"
        elif rel not in recorded:
            problem = "is not in its manifest (added after the package was written)"
        elif actual[rel] != recorded[rel]:
            problem = "does not match its sha256 in the manifest (changed or corrupted)"
        else:
            continue
        raise ModelUnavailableError(f"model package: {rel} of {str(p)!r} {problem}", str(p))


def read_package(path: str | os.PathLike[str]) -> ModelPackage:
    """Load a package written by :func:`write_package` (verified first).

    Packages written before ``max_horizon_hours`` was recorded get it from their model; a package
    that records more than its model answers is refused.

    Raises:
        ModelUnavailableError: an incomplete or inconsistent package.
    """
    p = Path(path)
    meta = verify_package(p)
    model = Forecaster.load(p / MODEL_DIR)
    load = schema.validate_load(pd.read_parquet(p / HISTORY_FILE), allow_missing_load=True)
    history = Dataset(load=load, cities=pd.read_parquet(p / CITIES_FILE))
    if (p / EVENTS_FILE).is_file():
        history.events = pd.read_parquet(p / EVENTS_FILE)
    stored = int(meta.setdefault("max_horizon_hours", model.max_horizon))
    if stored > model.max_horizon:  # a promise the models cannot keep: refuse the package
        raise ModelUnavailableError(
            f"model package: {str(p)!r} claims max_horizon_hours {stored} but its model answers "
            f"at most {model.max_horizon} h",
            str(p),
        )
    return ModelPackage(model, history, meta, path=p)
