"""The ``energy`` command line.

Every command that reads data takes ``--data DIR`` (a data set directory). User errors end with a
one-line ``error: ...`` on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Hourly electricity-load forecasting for many cities on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
DataDir = Annotated[
    Path, typer.Option("--data", help="Data set directory (from `energy data import`).")
]


def _progress(msg: str) -> None:
    typer.echo(f"[energy] {msg}", err=True)


def _add_groups() -> None:
    """Command groups kept in their own modules (``data`` imports this one for ``DataDir``)."""
    from energy.cli.config import config_app
    from energy.cli.data import data_app
    from energy.cli.registry import registry_app
    from energy.cli.schedule import schedule_app

    app.add_typer(data_app, name="data")
    app.add_typer(registry_app, name="registry")
    app.add_typer(config_app, name="config")
    app.add_typer(schedule_app, name="schedule")


_add_groups()


def _cities_option(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


ConfigOpt = Annotated[
    str,
    typer.Option(
        "--config", help="YAML profile: a path, or a name in energy/config/profiles (cpu, seed)"
    ),
]
CitiesOpt = Annotated[
    str | None, typer.Option("--cities", help="Comma-separated city ids (default: all)")
]
ModelOpt = Annotated[
    str, typer.Option("--model", help="ensemble (default), a member kind, or a baseline")
]


# ---- training backend (distributed training on Ray) ------------------------------------------
BackendOpt = Annotated[
    str,
    typer.Option(
        "--backend",
        help="ray (default): Ray Train / Ray tasks on the cluster at RAY_ADDRESS, else on a local "
        "Ray instance sized to the machine; local: in this process, without Ray",
    ),
]
WorkersOpt = Annotated[
    int, typer.Option("--workers", help="ray: data-parallel Ray Train workers per model fit")
]
RayOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ray",
        help="ray: a RaySettings field KEY=VALUE (repeatable), e.g. storage_path=s3://b/ckpt, "
        "max_concurrency=8, cpus_per_task=0.5, use_gpu=true, run_name=nightly",
    ),
]


def _train_on(backend: str, workers: int, options: list[str], out: Path, run: Any) -> Any:
    """``run(backend=...)`` (the training pipeline) in this process or on the Ray backend."""
    if backend not in ("local", "ray"):
        raise ValueError(f"--backend: expected ray or local, got {backend!r}")
    if backend == "local":
        if workers != 1 or options:
            raise ValueError("--workers/--ray: only with the ray backend (--backend ray)")
        return run(backend=None)
    from energy.distributed import RaySettings, parse_options, ray_session
    from energy.distributed.backend import ray_training
    from energy.distributed.fanout import FanoutError
    from energy.lifecycle.pipeline import save_partial

    settings = RaySettings.model_validate({"num_workers": workers, **parse_options(options)})
    try:
        with (
            ray_session(settings.address),
            ray_training(settings, progress=_progress) as (ray_backend, _),
        ):
            return run(backend=ray_backend)
    except FanoutError as e:  # keep the cities that trained; fail loudly with the others' errors
        where = save_partial(e.result.models, out)
        typer.echo(f"error: {e}; the {len(e.result.models)} trained cities are saved under "
                   f"{where}", err=True)  # fmt: skip
        raise typer.Exit(1) from e


@app.command("train")
def train_cmd(
    config: ConfigOpt,
    data: DataDir,
    out: Annotated[Path, typer.Option("--out", help="Output directory (model/ and train.json)")],
    cities: CitiesOpt = None,
    model: ModelOpt = "ensemble",
    backend: BackendOpt = "ray",
    workers: WorkersOpt = 1,
    ray_options: RayOpt = None,
    register: Annotated[
        bool,
        typer.Option(help="Register as a new version (alias challenger); run the promotion gate"),
    ] = True,
    track: Annotated[
        bool, typer.Option(help="Log the run to MLflow (ENERGY_TRACKING=0 also turns it off)")
    ] = True,
) -> None:
    """Train the configured model on a data set, save it, register it and run the gate."""
    from functools import partial

    from energy.config.experiment import load_config
    from energy.lifecycle.pipeline import train_and_register

    cfg = load_config(config)
    run = partial(
        train_and_register, cfg, data, out, cities=_cities_option(cities), kind=model,
        register=register, track=track, progress=_progress,
    )  # fmt: skip
    result = _train_on(backend, workers, ray_options or [], out, run)
    typer.echo(result.describe())


@app.command("backtest")
def backtest_cmd(
    config: ConfigOpt,
    data: DataDir,
    out: Annotated[Path, typer.Option("--out", help="Output directory")],
    start: Annotated[
        str | None, typer.Option("--start", help="First origin day (rolling: local date; else UTC)")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="End day, exclusive")] = None,
    cities: CitiesOpt = None,
    model: ModelOpt = "ensemble",
    baselines: Annotated[bool, typer.Option(help="Also backtest the baselines")] = True,
    scheme: Annotated[
        str,
        typer.Option(
            "--scheme",
            help="rolling (default): fit once before --start; kfold, out-of-time, citywise: "
            "refit per fold (settings in the config's backtest section)",
        ),
    ] = "rolling",
) -> None:
    """Day-ahead backtest (rolling-origin, K-fold, out-of-time or city-wise): predictions,
    metrics and plots under --out."""
    from energy.config.experiment import load_config
    from energy.lifecycle import experiment

    cfg = load_config(config)
    res = experiment.backtest(
        cfg, data, out, start=start, end=end, cities=_cities_option(cities), kind=model,
        with_baselines=baselines, scheme=scheme, progress=_progress,
    )  # fmt: skip
    typer.echo(res["compare"].to_string())


def _add_commands() -> None:
    """Commands kept in their own modules (they import this one for the shared options)."""
    from energy.cli.forecast import forecast_cmd
    from energy.cli.serve import serve_cmd
    from energy.cli.submit import submit_app
    from energy.cli.tune import tune_cmd

    app.command("tune")(tune_cmd)
    app.command("serve")(serve_cmd)
    app.add_typer(submit_app, name="submit")
    from energy.cli.actuals import actuals_app
    from energy.cli.monitor import monitor_app

    app.add_typer(actuals_app, name="actuals")
    app.add_typer(monitor_app, name="monitor")
    app.command("forecast")(forecast_cmd)


_add_commands()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: known user errors become one line and exit status 2."""
    import logging

    from energy.errors import exit_on_user_error, user_errors

    # progress of long work (epochs, members, cities) on stderr; library code only logs
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[energy] %(message)s"))
    logging.getLogger("energy").addHandler(handler)
    logging.getLogger("energy").setLevel(logging.INFO)
    # `tune --no-track` sets ENERGY_TRACKING=0 for the command (and the Tune trials it starts);
    # callers in the same process (tests) get their environment back
    tracking_env = os.environ.get("ENERGY_TRACKING")
    try:
        app(args=argv)  # None: sys.argv
    except user_errors() as exc:
        exit_on_user_error(exc)
    finally:
        logging.getLogger("energy").removeHandler(handler)
        if tracking_env is None:
            os.environ.pop("ENERGY_TRACKING", None)
        else:
            os.environ["ENERGY_TRACKING"] = tracking_env


if __name__ == "__main__":
    main()
