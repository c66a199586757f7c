"""``make cluster-demo``: train → register → serve on a real two-node Ray cluster on this machine.

1. a real MLflow tracking server on 127.0.0.1 (its own store and artifact root);
2. a Ray head and a second node with ``ray start`` (free ports, each node its own ``--temp-dir``
   — nodes sharing one would share, and delete under each other, the jobs' package folders;
   cluster/README.md), both with ``MLFLOW_TRACKING_URI`` and ``ENERGY_HOME`` in their environment,
   as a real cluster's nodes have them;
3. ``energy submit train``: XGBoost per city on two GEFCom2012 zones, fanned out over both nodes,
   registered on the server (the first version becomes champion);
4. a second training job with new code (a fresh copy of the repository), compared with that
   champion by the promotion gate;
5. ``serve deploy`` of cluster/serve.yaml (port and model name filled in) to the cluster;
6. one forecast over HTTP from the champion the jobs registered;
7. stops only what it started: the processes whose command line names this demo's folder (the
   Ray nodes and their workers) and the MLflow server's process group. Never ``ray stop``.

Run from the repository root with the package installed (``make install``)::

    python cluster/demo.py --data data/gefcom2012 [--cities zone_01,zone_02] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "data", "runs", "mlruns", "mlserver", "results", "__pycache__", "*.egg-info",
    ".mypy_cache", ".ruff_cache", ".pytest_cache",
)  # fmt: skip
MODEL_NAME = "energy-forecast"
# small enough for 2 cores: XGBoost only, one model per city (a task per node)
CONFIG: dict[str, Any] = {
    "name": "cluster-demo", "horizon": 24, "scope": "per_city",
    "models": {"xgboost": {
        "features": {"horizon": 24, "lags": [24, 48, 168]}, "strategy": "shared",
        "n_estimators": 120, "max_depth": 5, "early_stopping_rounds": 20, "n_jobs": 1,
    }},
    "ensemble": {"method": "mean", "val_days": 14}, "baselines": [],
    "promotion": {"registered_model": MODEL_NAME, "windows_days": 7},
}  # fmt: skip


def say(msg: str) -> None:
    print(f"[cluster-demo] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, what: str, within_s: float = 300, ok: tuple[int, ...] = (200,)) -> None:
    """Poll ``url`` until it answers with a status in ``ok`` (readiness of a server this script
    started)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                if r.status in ok:
                    return
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"error: {what} did not answer at {url} within {within_s:.0f} s")
        time.sleep(1)


def run(cmd: list[str], env: dict[str, str], **kw: Any) -> None:
    say("$ " + " ".join(cmd))
    subprocess.run(cmd, env=env, check=True, **kw)


def stop_started(root: Path, mlflow: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL, to the processes that name ``root`` and their children."""
    mine: dict[int, psutil.Process] = {}
    for p in psutil.process_iter(["cmdline"]):
        if str(root) in " ".join(p.info["cmdline"] or []):
            mine[p.pid] = p
            for c in p.children(recursive=True):
                mine[c.pid] = c
    me = psutil.Process()
    for p in (me, *me.parents()):  # this script, and `make` when the folder was passed to it
        mine.pop(p.pid, None)
    for p in mine.values():
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(list(mine.values()), timeout=20)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    if mlflow is not None and mlflow.poll() is None:
        os.killpg(mlflow.pid, signal.SIGTERM)
        try:
            mlflow.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(mlflow.pid, signal.SIGKILL)
    say(f"stopped {len(mine)} Ray processes and the MLflow server")


def fresh_copy(dst: Path, label: str) -> Path:
    """The repository as a checkout would upload it; ``label`` makes the code a new version."""
    shutil.copytree(REPO, dst, ignore=COPY_IGNORE, symlinks=True)
    (dst / "CODE_VERSION").write_text(f"{label} {time.time()}\n")
    return dst


def demo(args: argparse.Namespace, root: Path) -> None:
    data = Path(args.data).resolve()
    if not data.is_dir():
        raise SystemExit(f"error: --data: {str(data)!r} is not a data set directory")
    gcs, dash, client, serve_port = free_port(), free_port(), free_port(), free_port()
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    if "RAY_AUTH_MODE" not in env and (Path.home() / ".ray" / "auth_token").is_file():
        # `ray start --head` turns token auth on when a token exists; the second node, the job
        # client and `serve deploy` then need the mode said explicitly (../shared/NOTES.md)
        env["RAY_AUTH_MODE"] = "token"
    mlflow_url = f"http://127.0.0.1:{free_port()}"
    env |= {"MLFLOW_TRACKING_URI": mlflow_url, "ENERGY_HOME": str(root / "energy-home")}
    address = f"http://127.0.0.1:{dash}"

    say(f"1/7 MLflow server at {mlflow_url} (store and artifacts in {root / 'mlflow'})")
    (root / "mlflow").mkdir()
    log = (root / "mlflow" / "server.log").open("w")
    cmd = [str(BIN / "mlflow"), "server", "--backend-store-uri",
           f"sqlite:///{root / 'mlflow' / 'mlflow.db'}", "--artifacts-destination",
           str(root / "mlflow" / "artifacts"), "--host", "127.0.0.1", "--port",
           mlflow_url.rsplit(":", 1)[1], "--workers", "1"]  # fmt: skip
    args.mlflow = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_http(f"{mlflow_url}/health", "the MLflow server")

    say("2/7 two Ray nodes with `ray start` (1 CPU each, dashboard on 127.0.0.1)")
    ray = str(BIN / "ray")
    run([ray, "start", "--head", "--port", str(gcs), "--dashboard-port", str(dash),
         "--dashboard-host", "127.0.0.1", "--include-dashboard=true", "--num-cpus", "1",
         "--ray-client-server-port", str(client), "--temp-dir", str(root / "ray-head"),
         "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats"],
        env)  # fmt: skip  # every port chosen free: the job API needs the head's agent
    run([ray, "start", "--address", f"127.0.0.1:{gcs}", "--num-cpus", "1",
         "--temp-dir", str(root / "ray-node2"), "--dashboard-agent-listen-port",
         str(free_port()), "--disable-usage-stats"], env)  # fmt: skip
    wait_http(f"{address}/api/version", "the Ray dashboard", ok=(200, 401))  # 401: token auth

    cfg = root / "demo.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    energy = str(BIN / "energy")
    for n, label in ((3, "first"), (4, "second")):
        what = "the first version becomes champion" if n == 3 else "compared with the champion"
        say(f"{n}/7 training job ({label} code version, a new package): {what}")
        code = fresh_copy(root / f"code-{label}", label)
        run([energy, "submit", "train", "--address", address, "--working-dir", str(code),
             "--python", sys.executable, "--follow", "--", "--config", str(cfg),
             "--data", str(data), "--cities", args.cities, "--model", "xgboost",
             "--out", str(root / "runs" / label), "--ray", "cpus_per_task=1"], env)  # fmt: skip

    say(f"5/7 serve deploy cluster/serve.yaml (port {serve_port}) to the cluster")
    serve_cfg = yaml.safe_load((REPO / "cluster" / "serve.yaml").read_text())
    serve_cfg["http_options"]["port"] = serve_port
    app = serve_cfg["applications"][0]
    app["args"]["model_name"] = MODEL_NAME
    app["deployments"][0]["autoscaling_config"]["max_replicas"] = 1
    (root / "serve.yaml").write_text(yaml.safe_dump(serve_cfg, sort_keys=False))
    run([str(BIN / "serve"), "deploy", str(root / "serve.yaml"), "--address", address], env)
    url = f"http://127.0.0.1:{serve_port}"
    wait_http(f"{url}/readyz", "the Serve app")

    say("6/7 one forecast from the champion the jobs registered")
    with urllib.request.urlopen(f"{url}/v1/model", timeout=30) as r:
        model = json.loads(r.read())
    say(f"serving {model['name']} v{model['version']} ({model['kind']})")
    city = args.cities.split(",")[0]
    body = json.dumps({"city_id": city, "horizon_hours": 24}).encode()
    req = urllib.request.Request(
        f"{url}/v1/forecast", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        points = json.loads(r.read())["points"]
    for p in points[:6]:
        say(f"  {p['timestamp']}  {p['forecast_mw']:8.1f} MW")
    say(f"  ... {len(points)} hours for {city}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="GEFCom2012 data set directory")
    ap.add_argument("--cities", default="zone_01,zone_02")
    ap.add_argument("--keep", help="folder for the demo's state (default: a new temporary one)")
    args = ap.parse_args()
    args.mlflow = None
    root = Path(args.keep or tempfile.mkdtemp(prefix="energy-cluster-demo-")).resolve()
    if root.is_dir() and any(root.iterdir()):
        raise SystemExit(f"error: --keep: {str(root)!r} is not empty (the demo starts afresh)")
    root.mkdir(parents=True, exist_ok=True)
    say(f"state in {root}")
    try:
        demo(args, root)
    except subprocess.CalledProcessError as e:
        say(f"error: `{' '.join(map(str, e.cmd[:3]))} ...` exited with status {e.returncode}")
        raise SystemExit(1) from None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        say("7/7 stopping what this demo started")
        stop_started(root, args.mlflow)


if __name__ == "__main__":
    main()
