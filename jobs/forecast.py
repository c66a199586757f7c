"""Cluster entry point for batch inference: ``energy forecast`` on the job's Ray cluster.

Submitted from the repository root::

    ray job submit --address http://HEAD:8265 --working-dir . \\
        --runtime-env cluster/runtime_env.yaml -- \\
        python -m jobs.forecast --package /mnt/shared/runs/gefcom --cities all \\
        --start 2008-07-01T00:00:00Z --horizon 24 --out /mnt/shared/forecasts/2008-07-01.parquet

It takes the options of ``energy forecast``. Inside a submitted job ``RAY_ADDRESS`` points at the
job's cluster, so the actor pool runs on its nodes; run locally, it starts a local Ray instance.
The package must be on storage every node reads, and ``--out`` is written by the driver (on the
head node): use absolute paths on shared storage.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """``energy forecast`` with ``argv`` (default: the command line)."""
    from energy.cli.main import main as cli_main

    args = sys.argv[1:] if argv is None else argv
    cli_main(["forecast", *args])


if __name__ == "__main__":
    main()
