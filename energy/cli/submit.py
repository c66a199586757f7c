"""``energy submit {train,backtest,tune,forecast,retrain}``: run a job on a Ray cluster.

Everything after ``--`` is the job's own arguments (those of ``energy train`` etc.)::

    energy submit train --address http://HEAD:8265 --follow -- \\
        --config cpu --data /mnt/shared/data/gefcom2012 --out /mnt/shared/runs/nightly

It prints the equivalent ``ray job submit`` line first (energy/distributed/submit.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from energy.distributed.submit import JOBS

submit_app = typer.Typer(
    help="Submit a job (python -m jobs.<kind>) to a Ray cluster's job API; job arguments go "
    "after --.",
    no_args_is_help=True,
)


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--env")
        out[key.strip()] = value
    return out


def _command(kind: str) -> None:
    def run(
        ctx: typer.Context,
        address: Annotated[
            str | None,
            typer.Option(
                "--address",
                help="The head's dashboard (default: RAY_ADDRESS when http(s), else "
                "http://127.0.0.1:8265)",
            ),
        ] = None,
        working_dir: Annotated[
            Path, typer.Option("--working-dir", help="Code to upload (the repository)")
        ] = Path("."),
        runtime_env: Annotated[
            Path | None,
            typer.Option(
                "--runtime-env", help="YAML runtime env (default cluster/runtime_env.yaml)"
            ),
        ] = None,
        env: Annotated[
            list[str] | None,
            typer.Option(
                "--env", help="KEY=VALUE for this job (repeatable), e.g. ENERGY_HOME=/mnt/e"
            ),
        ] = None,
        python: Annotated[
            str, typer.Option("--python", help="Interpreter on the nodes")
        ] = "python",
        submission_id: Annotated[
            str | None,
            typer.Option("--submission-id", help="Default: a hash of the command, env and code"),
        ] = None,
        follow: Annotated[
            bool, typer.Option("--follow", help="Stream the logs until it ends")
        ] = False,
    ) -> None:
        from energy.distributed.submit import follow as follow_logs
        from energy.distributed.submit import plan, submit

        ray_address = os.environ.get("RAY_ADDRESS", "")
        default = ray_address if ray_address.startswith(("http://", "https://")) else None
        sub = plan(
            kind, ctx.args, working_dir=working_dir, address=address or default,
            runtime_env_file=runtime_env, env=_env_pairs(env or []), python=python,
            submission_id=submission_id,
        )  # fmt: skip
        typer.echo(f"equivalent: {sub.ray_command()}", err=True)
        job = submit(sub)
        typer.echo(f"submitted {job}")
        if not follow:
            typer.echo(f"logs: ray job logs {job} --address {sub.address} --follow", err=True)
            return
        status = follow_logs(sub.address, job, lambda s: typer.echo(s, nl=False))
        typer.echo(f"job {job}: {status}", err=True)
        if status != "SUCCEEDED":
            raise typer.Exit(1)

    run.__doc__ = f"Submit `python -m jobs.{kind}` (the options of `energy {kind}` after --)."
    submit_app.command(
        kind, context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(run)


for _kind in JOBS:
    _command(_kind)
