"""What the job entry points share: options, progress lines on stderr, the Ray training backend.

A job's driver runs on the cluster (``RAY_ADDRESS`` is set inside a submitted job), so the Ray
backend joins the job's cluster; run by hand, it starts a local Ray instance.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def job_argv(argv: list[str] | None) -> list[str]:
    """The job's arguments (default: the command line), after
    :func:`energy.home.prepare_job_driver` (inside a Ray job: a durable working folder, input
    paths made absolute, a relative ``--out`` refused); call it first, before any work."""
    from energy.home import prepare_job_driver

    return prepare_job_driver(sys.argv[1:] if argv is None else argv)


def say(msg: str) -> None:
    """A progress line on stderr (the job's log), as the CLI writes them."""
    print(f"[energy] {msg}", file=sys.stderr, flush=True)


def log_progress() -> None:
    """Send the library's log records (epochs, members, cities) to stderr as progress lines
    (once per process)."""
    logger = logging.getLogger("energy")
    if not any(getattr(h, "energy_job", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[energy] %(message)s"))
        handler.energy_job = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def cities(value: str | None) -> list[str] | None:
    """``--cities a,b`` → ``["a", "b"]``; None or empty: every city of the data set."""
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


def parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The options every job takes: ``--config``, ``--data``, ``--out``, ``--cities``."""
    first = (doc or "").split("\n\n")[0]
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=" ".join(first.split()))
    ap.add_argument("--config", required=True, help="YAML profile: a path or a name (cpu, seed)")
    ap.add_argument("--data", required=True, type=Path, help="data set directory")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--cities", help="comma-separated city ids (default: all)")
    return ap


def add_backend_options(ap: argparse.ArgumentParser) -> None:
    """``--workers N`` and ``--ray KEY=VALUE`` (repeatable): :class:`RaySettings` fields."""
    ap.add_argument("--workers", type=int, default=1, help="Ray Train workers per model fit")
    ap.add_argument(
        "--ray", action="append", default=[], metavar="KEY=VALUE",
        help="a RaySettings field (repeatable), e.g. storage_path=s3://b/ckpt",
    )  # fmt: skip


@contextmanager
def ray_backend(workers: int, options: list[str]) -> Iterator[Any]:
    """Connect to the job's cluster (``RAY_ADDRESS``; run by hand: a local instance) and route
    the block's fits to the Ray training backend (yielded)."""
    from energy.distributed import RaySettings, parse_options, ray_session
    from energy.distributed.backend import ray_training

    settings = RaySettings.model_validate({"num_workers": workers, **parse_options(options)})
    with ray_session(settings.address), ray_training(settings, progress=say) as (backend, _):
        yield backend
