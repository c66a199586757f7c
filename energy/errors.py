"""User errors at the edges: which exceptions mean "the input is wrong" and how to say so in one
line. The CLI and the job entry points share this, so a bad value reads the same everywhere."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that name a wrong input (field/flag/path and value): shown as one line."""
    from pydantic import ValidationError

    from energy.data.dataset import DatasetError
    from energy.data.importers import SourceError
    from energy.schema import SchemaError
    from energy.tracking import TrackingError

    return (
        SchemaError,
        TrackingError,
        DatasetError,
        SourceError,
        ValidationError,
        FileNotFoundError,
        ValueError,
        KeyError,
    )


def one_line(exc: BaseException) -> str:
    """``exc`` as one line; a pydantic error as ``field.path: message (got value)`` parts."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "config"
            got = err.get("input")
            shown = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
            msg = str(err["msg"]).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}{shown}")
        return "; ".join(parts)
    return " ".join(str(exc).split())


def exit_on_user_error(exc: BaseException) -> NoReturn:
    """Print ``error: <one line>`` on stderr and exit 2 (re-raise with ``ENERGY_DEBUG`` set)."""
    if os.environ.get("ENERGY_DEBUG"):
        raise exc
    print(f"error: {one_line(exc)}", file=sys.stderr, flush=True)
    sys.exit(2)


def run_edge(fn: Callable[[], None]) -> None:
    """Run an entry point; a user error becomes one line and exit status 2, never a traceback."""
    try:
        fn()
    except user_errors() as exc:
        exit_on_user_error(exc)
