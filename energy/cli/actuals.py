"""``energy actuals ingest FILE``: observed load (late or revised) into the monitoring store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

actuals_app = typer.Typer(help="Feed observed load to the monitoring store.", no_args_is_help=True)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Monitoring store URL (default: ENERGY_MONITOR_DB, else the state "
        "folder's SQLite file)",
    ),
]


@actuals_app.command("ingest")
def ingest_cmd(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet in the canonical load schema")],
    db: DbOpt = None,
    load_unit: Annotated[str, typer.Option("--load-unit", help="mw, kw, w or gw")] = "mw",
    temp_unit: Annotated[str, typer.Option("--temp-unit", help="c or f")] = "c",
    assume_tz: Annotated[
        str | None, typer.Option("--assume-tz", help="IANA zone of naive timestamps")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON")] = False,
) -> None:
    """Validate FILE like `energy data import canonical` and upsert it (revisions replace)."""
    from energy.monitoring.actuals import ingest_file
    from energy.monitoring.store import open_store

    store = open_store(db)
    got = ingest_file(store, file, load_unit=load_unit, temp_unit=temp_unit, assume_tz=assume_tz)
    if as_json:
        typer.echo(json.dumps(got))
        return
    typer.echo(
        f"actuals: {got['inserted']} new, {got['revised']} revised, {got['unchanged']} "
        f"unchanged hours for {got['cities']} cities ({got['span_utc'][0]} → "
        f"{got['span_utc'][1]}) → {store.url}"
    )
