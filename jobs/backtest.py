"""Ray job entry point for a backtest: :func:`energy.lifecycle.experiment.backtest` (rolling
origins, K-fold, out-of-time or city-wise; the model and the baselines) with its fits on the
job's Ray cluster.

Submitted from the repository root::

    ray job submit --address http://HEAD:8265 --working-dir . \\
        --runtime-env cluster/runtime_env.yaml -- \\
        python -m jobs.backtest --config cpu --data /mnt/shared/data/gefcom2012 \\
        --start 2008-05-01 --end 2008-06-01 --out /mnt/shared/backtests/gefcom

Options: those of ``energy backtest`` (``--config``, ``--data``, ``--scheme``, ``--start``,
``--end``, ``--out``, ``--cities``, ``--model``, ``--[no-]baselines``) and ``--workers``,
``--ray KEY=VALUE``. The driver reads ``--data`` and writes ``--out``: use shared storage.
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
    """Parse ``argv`` (default: the command line), backtest, print the comparison table."""
    from energy.config.experiment import load_config
    from energy.lifecycle.experiment import backtest

    ap = parser("jobs.backtest", __doc__)
    ap.add_argument("--scheme", default="rolling", help="rolling, kfold, out-of-time, citywise")
    ap.add_argument("--start", help="first origin day (rolling: local date; else UTC)")
    ap.add_argument("--end", help="end day, exclusive")
    ap.add_argument("--model", default="ensemble", help="ensemble, a member kind or a baseline")
    ap.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True)
    add_backend_options(ap)
    args = ap.parse_args(job_argv(argv))
    log_progress()
    cfg = load_config(args.config)
    with ray_backend(args.workers, args.ray):  # the backtest's fits run on the cluster
        res = backtest(
            cfg, args.data, args.out, start=args.start, end=args.end,
            cities=cities(args.cities), kind=args.model, with_baselines=args.baselines,
            scheme=args.scheme, progress=say,
        )  # fmt: skip
    print(res["compare"].to_string())


if __name__ == "__main__":
    from energy.errors import run_edge

    run_edge(main)  # a bad value: one line, exit 2
