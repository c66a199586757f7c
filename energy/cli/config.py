"""``energy config``: show the resolved experiment config of a profile."""

from __future__ import annotations

from typing import Annotated

import typer

config_app = typer.Typer(help="Experiment configs (profiles).", no_args_is_help=True)


@config_app.command("show")
def show_cmd(
    profile: Annotated[
        str,
        typer.Argument(help="A profile name in energy/config/profiles (cpu, seed, ...) or a path"),
    ],
) -> None:
    """Print the resolved config as YAML: every default filled in, every model's settings typed.

    An unknown or misspelt key is an error naming its dotted path (exit status 2).
    """
    from energy.config.experiment import load_config

    typer.echo(load_config(profile).to_yaml(), nl=False)


@config_app.command("list")
def list_cmd() -> None:
    """List the profiles shipped in energy/config/profiles."""
    from energy.config.experiment import profiles

    for name in profiles():
        typer.echo(name)
