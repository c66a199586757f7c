"""The ``energy`` command line: thin typer commands that parse, call one library function, print."""

from energy.cli.main import main

__all__ = ["main"]
