"""``energy serve``: the forecast API on Ray Serve (the app lives in serve_app/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from energy.cli.main import _progress


def serve_cmd(
    model_name: Annotated[
        str | None,
        typer.Option("--model", help="Registered model to serve (default: energy-forecast)"),
    ] = None,
    alias: Annotated[str, typer.Option("--alias", help="Registry alias to follow")] = "champion",
    package: Annotated[
        Path | None,
        typer.Option("--package", help="Serve a package directory (energy train --out) instead"),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="HTTP port")] = 8000,
    max_replicas: Annotated[int, typer.Option("--max-replicas", help="Autoscaling cap")] = 2,
    poll: Annotated[
        float, typer.Option("--poll", help="Seconds between checks for a new champion")
    ] = 10.0,
    num_cpus: Annotated[
        int | None, typer.Option("--num-cpus", help="CPUs of the local Ray (default: all)")
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="File holding the API's bearer token (else $ENERGY_SERVE_TOKEN; required "
            "unless --host is a loopback address)",
        ),
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", help="Largest request body (413 above)")
    ] = 2 * 1024**2,
    max_batch_cities: Annotated[
        int, typer.Option("--max-batch-cities", help="Distinct cities per batch request")
    ] = 500,
    max_batch_starts: Annotated[
        int, typer.Option("--max-batch-starts", help="Distinct starts per batch request")
    ] = 24,
    max_pending: Annotated[
        int, typer.Option("--max-pending", help="Forecasts in progress per replica (429 above)")
    ] = 1000,
    request_timeout: Annotated[
        float, typer.Option("--request-timeout", help="Seconds a forecast may take (503 after)")
    ] = 30.0,
) -> None:
    """Serve forecasts over HTTP with Ray Serve (local Ray on 127.0.0.1; RAY_ADDRESS: a cluster).

    Follows the registry alias (models:/NAME@champion) and switches replicas to a new champion
    without failing requests; --package DIR serves a package directory instead. Callers send
    `Authorization: Bearer <token>` when a token is set (--token-file or ENERGY_SERVE_TOKEN);
    listening beyond 127.0.0.1 (--host 0.0.0.0) needs one.
    """
    from serve_app.app import ServeOptions, serve_forever

    if package is not None and model_name is not None:
        raise ValueError("--package: give either --package or --model, not both")
    if package is not None and not (package / "package.json").is_file():
        raise FileNotFoundError(
            f"--package: {str(package)!r} is not a model package (no package.json)"
        )
    tracking_uri = None
    if package is None:
        from energy import tracking

        model_name = model_name or tracking.DEFAULT_MODEL_NAME
        tracking_uri = tracking.tracking_uri()  # absolute: replicas run in other directories
    options = ServeOptions(
        package=str(package.resolve()) if package is not None else None,
        model_name=model_name, alias=alias, tracking_uri=tracking_uri,
        max_replicas=max_replicas, poll_s=poll,
        token_file=str(token_file.resolve()) if token_file is not None else None,
        max_body_bytes=max_body_bytes, max_batch_cities=max_batch_cities,
        max_batch_starts=max_batch_starts, max_pending_forecasts=max_pending,
        request_timeout_s=request_timeout,
    )  # fmt: skip
    serve_forever(options, host=host, port=port, num_cpus=num_cpus, progress=_progress)
