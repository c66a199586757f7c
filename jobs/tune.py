"""Ray job entry point for hyper-parameter search: :func:`energy.distributed.tune.tune` with its
trials on the job's Ray cluster.

Submitted from the repository root::

    ray job submit --address http://HEAD:8265 --working-dir . \\
        --runtime-env cluster/runtime_env.yaml -- \\
        python -m jobs.tune --config cpu --data /mnt/shared/data/gefcom2012 --model xgboost \\
        --search tpe --samples 40 --max-concurrent 8 --out /mnt/shared/tune/xgb

Options: those of ``energy tune``. The driver (on the head node) reads ``--data`` and writes
``--out``, where Tune also keeps its state: use shared storage on a cluster, and ``--resume``
after an interruption.
"""

from __future__ import annotations

import argparse
import json
import os

from jobs._common import cities, job_argv, log_progress, parser, say


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the command line), search, print the best trial."""
    from energy.distributed import ray_session
    from energy.distributed.tune import load_settings, prepare, tune

    ap = parser("jobs.tune", __doc__)
    ap.add_argument("--model", required=True, help="lstm, transformer or xgboost")
    ap.add_argument("--search", default="tpe", help="tpe, gp, random or grid")
    ap.add_argument("--samples", type=int, help="trials (default 20)")
    ap.add_argument("--time-budget", type=float, help="stop after this many seconds")
    ap.add_argument("--max-concurrent", type=int, help="trials at once (default 2)")
    ap.add_argument("--scheduler", help="asha (default) or none")
    ap.add_argument("--workers-per-trial", type=int, help="lstm/transformer: Train workers")
    ap.add_argument("--tune-config", help="YAML of further settings and `space:` overrides")
    ap.add_argument("--resume", action="store_true", help="continue the search in --out")
    ap.add_argument("--track", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args(job_argv(argv))
    log_progress()
    if not args.track:  # the trials inherit the driver's environment
        os.environ["ENERGY_TRACKING"] = "0"
    settings = load_settings(
        args.tune_config, model=args.model, search=args.search, samples=args.samples,
        time_budget_s=args.time_budget, max_concurrent=args.max_concurrent,
        scheduler=args.scheduler, workers_per_trial=args.workers_per_trial,
    )  # fmt: skip
    if not args.resume:
        prepare(args.config, settings)  # a bad profile, space or setting fails before Ray starts
    with ray_session() as info:
        say(f"tuning on {info}")
        summary = tune(
            args.config, args.data, args.out, settings, cities=cities(args.cities),
            resume=args.resume, progress=say,
        )  # fmt: skip
    best = summary["best"]
    print(
        json.dumps(
            {"metric": summary["metric"], "trials": summary["trials"], "best": best}, default=str
        )
    )
    print(f"tuned profile: {summary['best_profile']}")


if __name__ == "__main__":
    from energy.errors import run_edge

    run_edge(main)  # a bad value: one line, exit 2
