"""``energy tune``: hyper-parameter search with Ray Tune (energy/distributed/tune.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from energy.cli.main import CitiesOpt, ConfigOpt, DataDir, _cities_option, _progress


def tune_cmd(
    config: ConfigOpt,
    data: DataDir,
    model: Annotated[str, typer.Option("--model", help="lstm, transformer or xgboost")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (best.yaml, trials.csv)")],
    cities: CitiesOpt = None,
    search: Annotated[str, typer.Option("--search", help="tpe, gp, random or grid")] = "tpe",
    samples: Annotated[int | None, typer.Option("--samples", help="Trials (default 20)")] = None,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", help="Stop after this many seconds")
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option("--max-concurrent", help="Trials at once (default 2)")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="asha (default) or none")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers-per-trial", help="lstm/transformer: Ray Train workers per trial"),
    ] = None,
    tune_config: Annotated[
        Path | None,
        typer.Option("--tune-config", help="YAML of further settings and `space:` overrides"),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the interrupted search in --out")
    ] = False,
    track: Annotated[bool, typer.Option(help="Log the search to MLflow")] = True,
) -> None:
    """Search hyper-parameters of one model kind with Ray Tune; writes OUT/best.yaml."""
    from energy.distributed import ray_session
    from energy.distributed.tune import load_settings, prepare, tune

    if not track:
        os.environ["ENERGY_TRACKING"] = "0"
    settings = load_settings(
        tune_config, model=model, search=search, samples=samples, time_budget_s=time_budget,
        max_concurrent=max_concurrent, scheduler=scheduler, workers_per_trial=workers,
    )  # fmt: skip
    if not resume:
        prepare(config, settings)  # bad profile, space or settings: fail before Ray starts
    with ray_session() as info:
        _progress(f"tuning on {info}")
        summary = tune(
            config, data, out, settings, cities=_cities_option(cities), resume=resume,
            progress=_progress,
        )  # fmt: skip
    best = summary["best"]
    typer.echo(f"best of {summary['trials']} trials ({summary['stopped']} stopped early): "
               f"{summary['metric']} {best[summary['metric']]:.5g}, val_mape "
               f"{best['val_mape']:.3f} % with {json.dumps(best['params'])}")  # fmt: skip
    typer.echo(f"tuned profile: {summary['best_profile']}")
