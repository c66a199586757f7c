"""Ray job entry point for training: :func:`energy.lifecycle.pipeline.train_and_register` on the
job's Ray cluster (fit → backtest → track → register → gate).

Submitted from the repository root::

    ray job submit --address http://HEAD:8265 --working-dir . \\
        --runtime-env cluster/runtime_env.yaml -- \\
        python -m jobs.train --config cpu --data /mnt/shared/data/gefcom2012 \\
        --out /mnt/shared/runs/gefcom --workers 2 --ray storage_path=s3://bucket/checkpoints

Options: ``--config``, ``--data``, ``--out``, ``--cities``, ``--model``, ``--workers``,
``--ray KEY=VALUE``, ``--[no-]register``, ``--[no-]track``. Paths are read and written by the job's
driver (on the head node): use shared storage on a cluster.
"""

from __future__ import annotations

import argparse

from jobs._common import (
    add_backend_options,
    cities,
    job_argv,
    log_progress,
    parser,
    ray_backend,
    say,
)


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the command line), train, print what happened."""
    from energy.config.experiment import load_config
    from energy.distributed.fanout import FanoutError
    from energy.lifecycle.pipeline import save_partial, train_and_register

    ap = parser("jobs.train", __doc__)
    ap.add_argument("--model", default="ensemble", help="ensemble, a member kind or a baseline")
    add_backend_options(ap)
    ap.add_argument("--register", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--track", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args(job_argv(argv))
    log_progress()
    cfg = load_config(args.config)
    try:
        with ray_backend(args.workers, args.ray) as backend:
            result = train_and_register(
                cfg, args.data, args.out, cities=cities(args.cities), kind=args.model,
                register=args.register, track=args.track, backend=backend, progress=say,
            )  # fmt: skip
    except FanoutError as e:  # keep the cities that trained; fail with the others' errors
        where = save_partial(e.result.models, args.out)
        n = len(e.result.models)
        raise SystemExit(f"error: {e}; the {n} trained cities are saved under {where}") from e
    print(result.describe())


if __name__ == "__main__":
    from energy.errors import run_edge

    run_edge(main)  # a bad value: one line, exit 2
