"""The serving half of ``make demo``: hold out the last day, then serve, ask, compare, stop.

    python -m serve_app.demo holdout --data data/gefcom2012 --cities zone_01,zone_02 \
        --hours 24 --out data/demo_train
    python -m serve_app.demo ask --data data/gefcom2012 --city zone_01 --port 8000 \
        (--model energy-forecast | --package DIR)

``holdout`` writes the data set without its last ``hours`` hours (so the model never sees them);
``ask`` starts ``energy serve`` as a child process, waits until it is ready, sends a real forecast
request for the hours after the cut-off, prints the answer next to the actual load of the full
data set, and stops the server it started (SIGTERM to its process group).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pandas as pd


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def holdout(data: str, cities: list[str], hours: int, out: str) -> None:
    from energy import schema
    from energy.data.dataset import build_manifest, read_dataset, write_dataset
    from energy.data.splits import subset

    ds = read_dataset(data, verify=True).select(cities)
    end = ds.load[schema.TIME].max()
    keep = ds.load[schema.TIME] <= end - pd.Timedelta(hours=hours)
    cut = subset(ds, keep)
    cut.manifest = build_manifest(
        cut, source={"kind": "holdout", "of": data}, quality_summary={},
        command=f"serve_app.demo holdout --hours {hours}",
    )  # fmt: skip
    write_dataset(cut, out)
    say(f"wrote {out}: {', '.join(cities)} up to {cut.load[schema.TIME].max()} UTC "
        f"(the last {hours} h held out as 'actual')")  # fmt: skip


def ask(data: str, city: str, port: int, model: str | None, package: str | None) -> int:
    import requests

    from energy import schema
    from energy.data.dataset import read_dataset

    cmd = [sys.executable, "-m", "energy", "serve", "--port", str(port), "--max-replicas", "1"]
    cmd += ["--package", package] if package else ["--model", model or "energy-forecast"]
    say(f"starting: energy {' '.join(cmd[3:])}")
    proc = subprocess.Popen(cmd, start_new_session=True)  # own process group: stopped below
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                say(f"energy serve exited with status {proc.returncode}")
                return 1
            try:
                if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                say("the server was not ready within 5 minutes")
                return 1
            time.sleep(1)
        model_info = requests.get(f"{url}/v1/model", timeout=10).json()
        say(f"ready: {model_info['name']} version {model_info['version']} "
            f"({model_info['kind']}, trained {model_info['trained_at']})")  # fmt: skip
        body: dict[str, Any] = {"city_id": city, "horizon_hours": 24, "members": True}
        say(f"POST {url}/v1/forecast {body}")
        t0 = time.perf_counter()
        r = requests.post(f"{url}/v1/forecast", json=body, timeout=60)
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code != 200:
            say(f"error {r.status_code}: {r.text}")
            return 1
        ans = r.json()
        load = read_dataset(data).load
        load = load[load[schema.CITY] == city].set_index(schema.TIME)[schema.LOAD]
        members = list(ans["points"][0]["members"] or {})
        say(f"answer in {ms:.0f} ms; weather: {ans['weather_source']}")
        head = f"{'UTC hour':<17} {'forecast MW':>11} {'actual MW':>10} {'error %':>8}"
        print(head + "".join(f" {m:>11}" for m in members))
        errs = []
        for p in ans["points"]:
            t = pd.Timestamp(p["timestamp"])
            y = float(load.get(t, float("nan")))
            e = 100 * (p["forecast_mw"] - y) / y if y == y and y else float("nan")
            errs.append(abs(e))
            row = f"{t:%Y-%m-%d %H:%M} {p['forecast_mw']:>11.1f} {y:>10.1f} {e:>8.1f}"
            print(row + "".join(f" {p['members'][m]:>11.1f}" for m in members))
        known = pd.Series(errs).dropna()
        if known.empty:
            say(f"no actual load in {data} for these hours (was the day held out?)")
        else:
            say(f"MAPE over the {len(known)} held-out hours: {known.mean():.2f} %")
        return 0
    finally:
        say("stopping the server")
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m serve_app.demo")
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("holdout")
    h.add_argument("--data", required=True)
    h.add_argument("--cities", required=True)
    h.add_argument("--hours", type=int, default=24)
    h.add_argument("--out", required=True)
    a = sub.add_parser("ask")
    a.add_argument("--data", required=True)
    a.add_argument("--city", required=True)
    a.add_argument("--port", type=int, default=8000)
    a.add_argument("--model")
    a.add_argument("--package")
    args = ap.parse_args()
    if args.cmd == "holdout":
        holdout(args.data, [c for c in args.cities.split(",") if c], args.hours, args.out)
    else:
        sys.exit(ask(args.data, args.city, args.port, args.model, args.package))


if __name__ == "__main__":
    main()
