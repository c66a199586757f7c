"""Cluster entry point for hyper-parameter search: ``energy tune`` on the job's Ray cluster.

Submitted from the repository root::

    ray job submit --address http://HEAD:8265 --working-dir . \\
        --runtime-env cluster/runtime_env.yaml -- \\
        python -m jobs.tune --config cpu --data /mnt/shared/data/gefcom2012 --model xgboost \\
        --search tpe --samples 40 --max-concurrent 8 --out /mnt/shared/tune/xgb

It takes the options of ``energy tune``. Inside a submitted job ``RAY_ADDRESS`` points at the
job's cluster, so the trials run on its nodes; run locally, it starts a local Ray instance. The
driver (on the head node) reads ``--data`` and writes ``--out``, where Tune also keeps its state:
use shared storage on a cluster, and ``--resume`` after an interruption.
"""

from __future__ import annotations

import sys

from energy.home import prepare_job_driver


def main(argv: list[str] | None = None) -> None:
    """``energy tune`` with ``argv`` (default: the command line)."""
    from energy.cli.main import main as cli_main

    args = prepare_job_driver(sys.argv[1:] if argv is None else argv)  # before any work
    cli_main(["tune", *args])


if __name__ == "__main__":
    main()
