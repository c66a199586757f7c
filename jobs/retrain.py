"""Ray job entry point for retraining: :func:`energy.lifecycle.retrain.retrain` (data freshness
check → :func:`energy.lifecycle.pipeline.train_and_register` on the mode's window, on the job's Ray
cluster → register → gate → notify).

Submitted by ``energy schedule run`` / ``trigger`` (deterministic submission ids), a KubeRay
RayCronJob or a plain CronJob (cluster/kuberay/raycronjob.yaml, cluster/kubernetes/)::

    python -m jobs.retrain --mode daily --config cpu --data /mnt/shared/data/gefcom2012 \\
        --out /mnt/shared/runs/retrain --notify-url https://hooks.example/retrain

Options: those of ``jobs.train`` (``--config``, ``--data``, ``--out``, ``--cities``, ``--model``,
``--workers``, ``--ray KEY=VALUE``) and ``--mode``, ``--as-of``, ``--reason``, ``--notify-url``,
``--slot`` (an id, or ``schedule:NAME``: a slot that already ran is skipped). Exit status 0 when a
version was registered (promoted or not), 3 when the data window was refused (too many gaps;
notified), 2 on bad options.
"""

from __future__ import annotations

import json
from pathlib import Path

from jobs._common import (
    add_backend_options,
    cities,
    job_argv,
    log_progress,
    parser,
    ray_backend,
    say,
)

STALE_EXIT = 3
SCHEDULES = Path(__file__).resolve().parents[1] / "cluster" / "schedules.yaml"


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the command line), retrain, print the outcome as JSON."""
    from energy.config.experiment import load_config
    from energy.lifecycle.notify import webhook
    from energy.lifecycle.retrain import MODES, StaleDataError, retrain
    from energy.lifecycle.schedules import load_schedules, now_utc, resolve_slot, slot_marker

    ap = parser("jobs.retrain", __doc__)
    ap.add_argument("--mode", required=True, choices=MODES)
    ap.add_argument("--model", default="ensemble", help="ensemble, a member kind or a baseline")
    add_backend_options(ap)
    ap.add_argument("--as-of", help="last hour of actuals to use (UTC; default: the data's last)")
    ap.add_argument("--reason", help="why it runs (triggered: the monitoring requests)")
    ap.add_argument("--notify-url", help="JSON webhook for refusals and outcomes")
    ap.add_argument("--slot", help="slot id, or schedule:NAME: a slot that already ran is skipped")
    ap.add_argument("--schedules", default=str(SCHEDULES), help="for --slot schedule:NAME")
    args = ap.parse_args(job_argv(argv))
    marker = None
    if args.slot:
        slot = resolve_slot(args.slot, load_schedules(args.schedules), now_utc())
        if (marker := slot_marker(slot)).is_file():
            print(json.dumps({"slot": slot, "skipped": "already ran", "marker": str(marker)}))
            return
    log_progress()
    try:  # Ray starts only once the data window passed its check
        outcome = retrain(
            args.mode, load_config(args.config), args.data, args.out, as_of=args.as_of,
            cities=cities(args.cities), kind=args.model, reason=args.reason,
            notify=webhook(args.notify_url), progress=say,
            session=lambda: ray_backend(args.workers, args.ray),
        )  # fmt: skip
    except StaleDataError as e:
        say(f"error: {e}")
        raise SystemExit(STALE_EXIT) from None
    if marker is not None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(outcome.summary(), default=str) + "\n")
    print(json.dumps(outcome.summary(), default=str))


if __name__ == "__main__":
    from energy.errors import run_edge

    run_edge(main)  # a bad value: one line, exit 2
