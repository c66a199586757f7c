"""Cluster entry point for training: ``energy train`` with the Ray backend.

Submitted from the repository root::

    ray job submit --address http://HEAD:8265 --working-dir . \\
        --runtime-env cluster/runtime_env.yaml -- \\
        python -m jobs.train --config cpu --data /mnt/shared/data/gefcom2012 \\
        --out /mnt/shared/runs/gefcom --workers 2 --ray storage_path=s3://bucket/checkpoints

It takes the options of ``energy train`` (``--config``, ``--data``, ``--out``, ``--cities``,
``--model``, ``--workers``, ``--ray KEY=VALUE``). Inside a submitted job ``RAY_ADDRESS`` points
at the job's cluster, so training joins it; run locally, it starts a local Ray instance. Paths
are read and written by the job's driver (on the head node): use shared storage on a cluster.
"""

from __future__ import annotations

import sys

from energy.home import prepare_job_driver


def main(argv: list[str] | None = None) -> None:
    """``energy train --backend ray`` with ``argv`` (default: the command line)."""
    from energy.cli.main import main as cli_main

    args = prepare_job_driver(sys.argv[1:] if argv is None else argv)  # before any work
    cli_main(["train", "--backend", "ray", *args])


if __name__ == "__main__":
    main()
