"""Ray job entry point for retraining: :func:`energy.lifecycle.retrain.retrain` (data freshness
check → the one training pipeline on the mode's window → register → gate → notify).

Submitted by ``energy schedule run`` / ``trigger`` (deterministic submission ids), a KubeRay
RayCronJob or a plain CronJob (cluster/kuberay/raycronjob.yaml, cluster/kubernetes/)::

    python -m jobs.retrain --mode daily --config cpu --data /mnt/shared/data/gefcom2012 \\
        --out /mnt/shared/runs/retrain --notify-url https://hooks.example/retrain

Exit status 0 when a version was registered (promoted or not), 3 when the data window was
refused (too many gaps; notified), 2 on bad options.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from energy.home import prepare_job_driver

STALE_EXIT = 3
SCHEDULES = Path(__file__).resolve().parents[1] / "cluster" / "schedules.yaml"


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the command line), retrain, print the outcome as JSON."""
    from energy.config.experiment import load_config
    from energy.lifecycle.notify import webhook
    from energy.lifecycle.retrain import MODES, StaleDataError, retrain

    ap = argparse.ArgumentParser(prog="python -m jobs.retrain", description=__doc__.split("\n")[0])
    ap.add_argument("--mode", required=True, choices=MODES)
    ap.add_argument("--config", required=True, help="YAML profile: a path or a name (cpu, seed)")
    ap.add_argument("--data", required=True, type=Path, help="data set with the latest actuals")
    ap.add_argument("--out", required=True, type=Path, help="output directory (absolute)")
    ap.add_argument("--cities", help="comma-separated city ids (default: all)")
    ap.add_argument("--model", default="ensemble", help="ensemble, a member kind or a baseline")
    ap.add_argument("--as-of", help="last hour of actuals to use (UTC; default: the data's last)")
    ap.add_argument("--reason", help="why it runs (triggered: the monitoring requests)")
    ap.add_argument("--notify-url", help="JSON webhook for refusals and outcomes")
    ap.add_argument("--slot", help="slot id, or schedule:NAME: a slot that already ran is skipped")
    ap.add_argument("--schedules", default=str(SCHEDULES), help="for --slot schedule:NAME")
    args = ap.parse_args(prepare_job_driver(sys.argv[1:] if argv is None else argv))
    marker = None
    if args.slot:
        from energy.lifecycle.schedules import load_schedules, now_utc, resolve_slot, slot_marker

        slot = resolve_slot(args.slot, load_schedules(args.schedules), now_utc())
        if (marker := slot_marker(slot)).is_file():
            print(json.dumps({"slot": slot, "skipped": "already ran", "marker": str(marker)}))
            return
    notify = webhook(args.notify_url)
    cities = [c for c in (args.cities or "").split(",") if c] or None
    try:
        outcome = retrain(
            args.mode, load_config(args.config), args.data, args.out.resolve(), as_of=args.as_of,
            cities=cities, kind=args.model, reason=args.reason, notify=notify,
            progress=lambda m: print(f"[energy] {m}", file=sys.stderr, flush=True),
        )  # fmt: skip
    except StaleDataError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(STALE_EXIT) from None
    if marker is not None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(outcome.summary(), default=str) + "\n")
    print(json.dumps(outcome.summary(), default=str))


if __name__ == "__main__":
    main()
