"""``energy registry``: list, show, register, promote and roll back registered model versions.

The registered model defaults to ``$ENERGY_MODEL_NAME`` or ``energy-forecast``; ``--config`` gives
the promotion settings (metric, margin, tolerance) the gate uses. The tracking store is
``MLFLOW_TRACKING_URI`` or the local SQLite store (see :mod:`energy.tracking`).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

registry_app = typer.Typer(
    help="Registered model versions: list, show, promote, roll back.", no_args_is_help=True
)
NameOpt = Annotated[
    str | None,
    typer.Option("--name", help="Registered model (default $ENERGY_MODEL_NAME or energy-forecast)"),
]


def _name(name: str | None) -> str:
    from energy.tracking import DEFAULT_MODEL_NAME

    return name or os.environ.get("ENERGY_MODEL_NAME") or DEFAULT_MODEL_NAME


def _progress(msg: str) -> None:
    typer.echo(f"[energy] {msg}", err=True)


@registry_app.command("list")
def registry_list(name: NameOpt = None) -> None:
    """Versions, newest first: aliases, config, metrics on their protocol, gate decision."""
    from energy import tracking

    n = _name(name)
    versions = tracking.list_versions(n)
    if not versions:
        raise KeyError(f"--name: no versions of {n!r} in {tracking.tracking_uri()}")
    typer.echo(f"{'version':>7}  {'aliases':<20} {'created (UTC)':<19}  {'config':<12} "
               f"{'mape':>7} {'mae':>9}  {'protocol':<8}  gate")  # fmt: skip
    for v in versions:
        created = datetime.fromtimestamp(v.created_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        m = v.metrics["overall"]
        typer.echo(
            f"{v.version:>7}  {','.join(sorted(v.aliases)) or '-':<20} {created:<19}  "
            f"{v.tags.get('config_name', '')[:12]:<12} {m.get('mape', float('nan')):>7.3f} "
            f"{m.get('mae', float('nan')):>9.2f}  {v.tags.get('protocol_id', '')[:8]:<8}  "
            f"{v.tags.get('gate.decision', '')}"
        )


@registry_app.command("show")
def registry_show(version: Annotated[str, typer.Argument()], name: NameOpt = None) -> None:
    """One version: aliases, tags, metrics overall and per city, the gate's reason."""
    from energy import tracking

    v = tracking.get_version(_name(name), version)
    doc = {
        "name": v.name,
        "version": v.version,
        "aliases": v.aliases,
        "run_id": v.run_id,
        "tags": {
            k: x for k, x in sorted(v.tags.items()) if not k.startswith(("per_city.", "reeval."))
        },
        "metrics": v.metrics,
    }
    typer.echo(json.dumps(doc, indent=2))


@registry_app.command("promote")
def registry_promote(
    version: Annotated[str, typer.Argument()],
    name: NameOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Skip the gate")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded)")] = "",
    config: Annotated[
        str | None, typer.Option("--config", help="Profile whose promotion: block the gate uses")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="Data set to re-evaluate a champion scored on another protocol"
        ),
    ] = None,
) -> None:
    """Run the promotion gate for VERSION (or skip it with --force); exit 1 when rejected."""
    from energy.config.experiment import PromotionSettings, load_config
    from energy.data.dataset import read_dataset
    from energy.lifecycle import champion as registry

    settings = load_config(config).promotion if config else PromotionSettings()
    n = name or (settings.registered_model if config else _name(None))
    ds = read_dataset(data, verify=True) if data is not None else None
    d = registry.gate(
        n, version, settings, data=ds, force=force, reason=reason or "manual", progress=_progress
    )
    typer.echo(f"{n} v{version}: {'promoted to champion' if d.promote else 'not promoted'}: "
               f"{d.reason}")  # fmt: skip
    if not d.promote:
        raise typer.Exit(1)


@registry_app.command("register")
def registry_register(
    package: Annotated[Path, typer.Argument(help="A training run's --out (its model package)")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="Data set to re-evaluate a champion scored on another protocol"
        ),
    ] = None,
) -> None:
    """Track, register and gate a package whose training could not reach MLflow (energy train
    saves the package first and prints this command when tracking fails)."""
    from energy.lifecycle.pipeline import register_saved

    result = register_saved(package, data=data, progress=_progress)
    typer.echo(result.describe().splitlines()[-1])


@registry_app.command("rollback")
def registry_rollback(
    name: NameOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded)")] = "manual rollback",
) -> None:
    """Move ``champion`` back to the previous champion and record why."""
    from energy.lifecycle import champion as registry

    n = _name(name)
    old, new = registry.rollback(n, reason, progress=_progress)
    typer.echo(f"{n}: champion v{old} → v{new} ({reason})")
