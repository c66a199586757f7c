"""``energy monitor``: report, one monitoring check, the store's schema, a version's band."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from energy.cli.actuals import DbOpt

if TYPE_CHECKING:
    from energy.monitoring.config import MonitorConfig
    from energy.monitoring.store import Store

monitor_app = typer.Typer(
    help="Accuracy against actuals, drift and alerts of served forecasts.", no_args_is_help=True
)
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="YAML with a `monitoring:` section (default: built-in)"),
]


def _store(db: str | None, config: Path | None) -> tuple[Store, MonitorConfig]:
    from energy.monitoring.config import load_monitor_config
    from energy.monitoring.store import open_store

    cfg = load_monitor_config(config)
    return open_store(db or cfg.db_url), cfg


@monitor_app.command("report")
def report_cmd(
    since: Annotated[str, typer.Option("--since", help="Look-back: 24h, 7d, 2w")] = "7d",
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for summary.json and the PNG plots")
    ] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Accuracy per city and version next to the backtest band, drift, events (table, PNG, JSON)."""
    from energy.monitoring import report

    store, _ = _store(db, config)
    window = report.parse_since(since)
    s = report.write_report(store, out, window) if out else report.summary(store, window)
    typer.echo(json.dumps(s, indent=2, default=str) if as_json else report.format_table(s))
    if out and not as_json:
        typer.echo(f"wrote {len(s['files'])} files to {out}")


@monitor_app.command("check")
def check_cmd(
    db: DbOpt = None,
    config: ConfigOpt = None,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="Training data set (energy data import) for input drift"),
    ] = None,
) -> None:
    """One monitoring pass now: rolling metrics, degradation, drift → events and alerts."""
    from energy.data.dataset import read_dataset
    from energy.monitoring.alerts import Notifier
    from energy.monitoring.checks import run_checks
    from energy.monitoring.store import utcnow

    store, cfg = _store(db, config)
    ref = read_dataset(reference).load if reference else None
    res = run_checks(store, cfg, Notifier(store, cfg.alerts), utcnow(), reference=ref)
    fired = res.alarms()
    typer.echo(
        f"check {res.now:%Y-%m-%d %H:%M} UTC: {len(res.metrics)} metric rows, "
        f"{len(res.degradations)} degraded, {len(res.residual_drift)} residual drifts, "
        f"{len(fired)} alerts sent ({len(res.events) - len(fired)} cooling down)"
    )
    for e in fired:
        typer.echo(f"  {e.kind} {e.key}")


@monitor_app.command("migrate")
def migrate_cmd(db: DbOpt = None) -> None:
    """Create or upgrade the monitoring store's schema (the other commands do it too)."""
    from energy.monitoring import migrations
    from energy.monitoring.store import open_store

    store = open_store(db, upgrade=False)
    applied = migrations.upgrade(store.engine)
    typer.echo(
        f"{store.url}: schema version {migrations.HEAD}"
        + (f" (applied {applied})" if applied else " (up to date)")
    )


@monitor_app.command("band")
def band_cmd(
    version: Annotated[str, typer.Option("--version", help="Registered model version")],
    model_name: Annotated[
        str, typer.Option("--model", help="Registered model")
    ] = "energy-forecast",
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Store what a registry version's backtest promised (its MAPE × band_factor as the band)."""
    from energy import tracking
    from energy.monitoring.accuracy import band_from_registry

    store, cfg = _store(db, config)
    v = tracking.get_version(model_name, version)
    rows = band_from_registry(v.metrics, cfg.accuracy.band_factor)
    if not rows:
        raise ValueError(f"--version: {model_name} v{version} has no mape in its registry record")
    store.set_baselines(version, rows, source=f"registry:{model_name}/{version}")
    typer.echo(f"{model_name} v{version}: band for {len(rows)} rows (× {cfg.accuracy.band_factor})")
