"""``energy schedule``: the retraining schedules (cluster/schedules.yaml) and their daemon.

``list`` and ``next`` read the file only; ``trigger MODE`` runs a schedule's current slot on the
cluster now (same submission id as the scheduled run: never twice); ``run`` is the daemon.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from energy.distributed.scheduler import RunnerSettings

schedule_app = typer.Typer(
    help="Retraining schedules and the scheduler daemon.", no_args_is_help=True
)
FileOpt = Annotated[
    Path, typer.Option("--schedules", help="Schedules file (cron + time zone per schedule)")
]
AddressOpt = Annotated[
    str, typer.Option("--address", envvar="RAY_ADDRESS", help="Ray dashboard, http://HEAD:8265")
]
WorkdirOpt = Annotated[
    Path | None, typer.Option("--working-dir", help="Code uploaded with each job (default: none)")
]
DEFAULT = Path("cluster") / "schedules.yaml"
DEFAULT_ADDRESS = "http://127.0.0.1:8265"


def _settings(schedules: Path, address: str, working_dir: Path | None) -> RunnerSettings:
    from energy.distributed.scheduler import RunnerSettings

    env_file = Path("cluster") / "runtime_env.yaml"
    return RunnerSettings(
        schedules=str(schedules.resolve()),
        address=address,
        working_dir=str(working_dir.resolve()) if working_dir else None,
        runtime_env_file=str(env_file.resolve()) if working_dir and env_file.is_file() else None,
    )


@schedule_app.command("list")
def list_cmd(schedules: FileOpt = DEFAULT) -> None:
    """Each schedule with its next run (local time and UTC) and slot id."""
    from energy.lifecycle.schedules import load_schedules, now_utc, upcoming

    for row in upcoming(load_schedules(schedules), now_utc(), 1):
        typer.echo(
            f"{row['schedule']:<10} {row['mode']:<9} {row['cron']!r:<14} {row['timezone']:<18} "
            f"next {row['local']} ({row['utc']} UTC)  {row['slot']}"
        )


@schedule_app.command("next")
def next_cmd(
    schedules: FileOpt = DEFAULT,
    n: Annotated[int, typer.Option("-n", help="Fire times per schedule")] = 5,
) -> None:
    """The next N fire times of every schedule (JSON lines), DST days included."""
    from energy.lifecycle.schedules import load_schedules, now_utc, upcoming

    for row in upcoming(load_schedules(schedules), now_utc(), n):
        typer.echo(json.dumps(row))


@schedule_app.command("trigger")
def trigger_cmd(
    mode: Annotated[str, typer.Argument(help="Schedule name or mode: daily, weekly")],
    schedules: FileOpt = DEFAULT,
    address: AddressOpt = DEFAULT_ADDRESS,
    working_dir: WorkdirOpt = None,
) -> None:
    """Run the schedule's current slot now and wait for it (retried once; failures notified)."""
    from energy.distributed.scheduler import trigger_now

    res = trigger_now(mode, _settings(schedules, address, working_dir))
    typer.echo(f"{res.slot}: {res.status} (attempts {', '.join(res.attempts)}; "
               f"{res.submitted} submitted now)")  # fmt: skip
    if not res.ok:
        raise typer.Exit(1)


@schedule_app.command("run")
def run_cmd(
    schedules: FileOpt = DEFAULT,
    address: AddressOpt = DEFAULT_ADDRESS,
    working_dir: WorkdirOpt = None,
) -> None:
    """The scheduler daemon (state under ENERGY_HOME/scheduler); stops on SIGINT/SIGTERM."""
    from energy.distributed.scheduler import Daemon

    daemon = Daemon(_settings(schedules, address, working_dir))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: daemon.stop())
    daemon.start()
    for name, t in daemon.next_runs().items():
        typer.echo(f"[energy] {name}: next run {t}", err=True)
    daemon.serve()
