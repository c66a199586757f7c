"""``energy forecast``: batch inference, every requested city of a package scored with Ray Data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from energy.cli.main import _cities_option, _progress


def forecast_cmd(
    package: Annotated[
        Path,
        typer.Option("--package", help="Model package directory (what energy train --out wrote)"),
    ],
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write")],
    cities: Annotated[
        str, typer.Option("--cities", help="'all' or comma-separated city ids")
    ] = "all",
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="First forecast hour, ISO 8601 (UTC when naive); default: "
            "the hour after each city's last stored load",
        ),
    ] = None,
    horizon: Annotated[int, typer.Option("--horizon", help="Hours per city")] = 24,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Cities per model call")] = 50,
    actors: Annotated[
        int | None, typer.Option("--actors", help="Actor pool size (default: the CPUs)")
    ] = None,
    num_cpus: Annotated[
        int | None, typer.Option("--num-cpus", help="CPUs of a local Ray (default: all)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Ray Data progress bars")] = True,
) -> None:
    """Forecast many cities with Ray Data (an actor pool that loads the package once per actor).

    Runs on the cluster at RAY_ADDRESS, else on a local Ray instance. Writes one row per city and
    hour: city_id, timestamp (UTC), step, yhat (MW), weather_source.
    """
    from energy.distributed import ray_session
    from energy.distributed.batch import score_package
    from energy.forecast import ForecastError, ForecastQuery, read_package

    try:  # check the request here, before any actor starts
        pkg = read_package(package)
        ids = pkg.cities if cities.strip() == "all" else (_cities_option(cities) or [])
        query = ForecastQuery(tuple(ids), start=start, horizon_hours=horizon)
        for c in query.city_ids:
            pkg.check_city(c)
        if horizon > pkg.max_horizon:
            raise typer.BadParameter(f"at most {pkg.max_horizon} for this package",
                                     param_hint="--horizon")  # fmt: skip
    except ForecastError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    del pkg
    with ray_session(num_cpus=num_cpus, dashboard=False) as info:
        _progress(f"scoring {len(query.city_ids)} cities on {info}")
        result = score_package(
            package, query.city_ids, out, start=query.start, horizon=horizon,
            batch_size=batch_size, actors=actors, progress=progress,
        )  # fmt: skip
    typer.echo(f"wrote {result.rows:,} rows ({result.cities} cities × {horizon} h) to "
               f"{result.out} in {result.seconds:.1f} s with {result.actors} actor(s)")  # fmt: skip
