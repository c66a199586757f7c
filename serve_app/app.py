"""Build the Serve application, and run it (``energy serve``).

Three ways in:

* ``energy serve --package DIR`` / ``--model NAME [--alias champion]``: :func:`serve_forever` starts
  a local Ray and Serve on 127.0.0.1 (or deploys to ``RAY_ADDRESS``) and blocks until Ctrl-C.
* ``serve run cluster/serve.yaml`` / ``serve deploy``: the config's ``import_path`` is
  :func:`app` (an application builder); its ``args`` are :class:`ServeOptions` fields.
* tests and benchmarks: :func:`build_app` and ``serve.run``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serve_app.auth import DEFAULT_TOKEN_ENV, load_token, require_token_off_loopback
from serve_app.limits import Limits
from serve_app.loader import ModelSource

APP_NAME = "energy"
_LIMITS = Limits()  # the defaults


class ServeOptions(BaseModel):
    """Where the model comes from and how the deployment scales (``serve.yaml`` ``args``)."""

    model_config = ConfigDict(extra="forbid")

    package: str | None = Field(
        default=None, description="a package directory (energy train --out)"
    )
    model_name: str | None = Field(default=None, description="registered model name")
    alias: str = "champion"
    tracking_uri: str | None = Field(
        default=None, description="MLflow store; default: the driver's"
    )
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=2, ge=1)
    initial_replicas: int | None = Field(default=None, ge=0)
    target_ongoing_requests: float = Field(default=4.0, gt=0)
    max_ongoing_requests: int = Field(default=32, ge=1)
    upscale_delay_s: float = Field(default=2.0, ge=0)
    downscale_delay_s: float = Field(default=10.0, ge=0)
    look_back_period_s: float = Field(
        default=30.0, gt=0, description="load averaged over this window"
    )
    num_cpus: float = Field(default=1.0, ge=0, description="CPUs reserved per replica")
    poll_s: float = Field(
        default=10.0, gt=0, description="seconds between checks for a new champion"
    )
    cache_size: int = Field(
        default=4096, ge=0, description="memoised forecasts per replica; 0 = off"
    )
    max_batch_size: int = Field(default=16, ge=1)
    batch_wait_timeout_s: float = Field(default=0.02, ge=0)
    backoff_max_s: float = Field(
        default=300.0, gt=0, description="longest wait between retries of a broken champion"
    )
    # limits (serve_app/limits.py): 413 / 422 / 429 / 503 naming the limit
    max_body_bytes: int = Field(default=_LIMITS.max_body_bytes, ge=1024)
    max_batch_cities: int = Field(default=_LIMITS.max_batch_cities, ge=1)
    max_batch_starts: int = Field(default=_LIMITS.max_batch_starts, ge=1)
    max_pending_forecasts: int = Field(default=_LIMITS.max_pending_forecasts, ge=1)
    request_timeout_s: float = Field(default=_LIMITS.request_timeout_s, gt=0)
    # bearer token (serve_app/auth.py): read by the replicas, never part of user_config
    token_file: str | None = Field(
        default=None, description="file holding the API token (e.g. a mounted secret)"
    )
    token_env: str = Field(
        default=DEFAULT_TOKEN_ENV, description="else: environment variable holding the token"
    )
    monitor: bool = Field(default=True, description="log served forecasts to the monitoring store")
    monitor_db: str | None = Field(
        default=None, description="monitoring store URL; default: ENERGY_MONITOR_DB / state folder"
    )

    @model_validator(mode="after")
    def _one_source(self) -> ServeOptions:
        if (self.package is None) == (self.model_name is None):
            raise ValueError("give exactly one of package (a directory) or model_name (registry)")
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}"
            )
        return self

    def source(self) -> ModelSource:
        return ModelSource(self.package, self.model_name, self.alias, self.tracking_uri)

    def settings(self) -> dict[str, Any]:
        """The deployment's ``user_config`` (changeable without restarting replicas)."""
        keys = ("poll_s", "cache_size", "max_batch_size", "batch_wait_timeout_s", "backoff_max_s")
        return {k: getattr(self, k) for k in (*keys, *Limits.model_fields)}

    def auth(self) -> dict[str, Any]:
        """Where the replicas find the token (a path or a variable name, never the token)."""
        return {"token_file": self.token_file, "token_env": self.token_env}

    def start_settings(self) -> dict[str, Any]:
        """Settings read once when a replica starts (not part of ``user_config``)."""
        return {"monitor": self.monitor, "monitor_db": self.monitor_db}

    def autoscaling(self) -> dict[str, Any]:
        return {
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "initial_replicas": self.initial_replicas,
            "target_ongoing_requests": self.target_ongoing_requests,
            "upscale_delay_s": self.upscale_delay_s,
            "downscale_delay_s": self.downscale_delay_s,
            "look_back_period_s": self.look_back_period_s,
        }


def build_app(options: ServeOptions) -> Any:
    """The application: one FastAPI ingress deployment holding the model (see deployments.py)."""
    from serve_app.deployments import ForecastDeployment

    dep = ForecastDeployment.options(  # type: ignore[attr-defined]
        autoscaling_config=options.autoscaling(),
        max_ongoing_requests=options.max_ongoing_requests,
        ray_actor_options={"num_cpus": options.num_cpus},
        user_config=options.settings(),
    )
    return dep.bind(
        options.source().to_dict(),
        {**options.settings(), **options.start_settings()},
        options.auth(),
    )


def app(args: dict[str, Any]) -> Any:
    """Application builder for ``serve run`` / ``serve deploy``
    (``import_path: serve_app.app:app``)."""
    return build_app(ServeOptions.model_validate(args))


def serve_forever(
    options: ServeOptions,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    num_cpus: int | None = None,
    progress: Callable[[str], None] = print,
) -> None:
    """Start (or join) Ray, run the app on ``host:port`` and block until SIGINT/SIGTERM.

    With ``RAY_ADDRESS`` set the app is deployed to that cluster and the call returns (the
    cluster keeps serving); without it a local Ray instance is started and stopped here.

    Raises:
        serve_app.auth.AuthConfigError: ``host`` is not a loopback address and no token is
            configured, or the token file cannot be read (checked before anything starts).
    """
    from ray import serve

    from energy.distributed import connect, disconnect

    auth = load_token(options.token_file, options.token_env)
    require_token_off_loopback(host, auth)
    progress("bearer-token authentication on" if auth else "no token: the API is open (loopback)")

    if os.environ.get("RAY_ADDRESS"):
        progress(f"connecting to the Ray cluster at {os.environ['RAY_ADDRESS']}")
    else:
        progress("starting a local Ray instance (set RAY_ADDRESS to deploy to a cluster)")
    # no dashboard for a local instance: Serve does without it (about 0.85 GiB less memory)
    info = connect(num_cpus=num_cpus, dashboard=False, loopback=True, log_to_driver=False)
    address = None if info.address == "local" else info.address
    try:
        # the proxy's timeout is the outer bound: the replica answers its own JSON 503 first
        timeout = options.request_timeout_s + 10
        serve.start(
            http_options={"host": host, "port": port, "request_timeout_s": timeout},
            proxy_location="HeadOnly",
        )
        progress(f"deploying {options.source().describe()} (loading and warming the model)")
        t0 = time.perf_counter()
        serve.run(build_app(options), name=APP_NAME, route_prefix="/", blocking=False)
        url = f"http://{host}:{port}"
        ready = wait_ready(url, timeout_s=5.0)
        progress(
            f"serving at {url} in {time.perf_counter() - t0:.1f} s "
            f"({'ready' if ready else 'no model yet: /readyz answers 503 until one is found'}); "
            f"API docs {url}/docs"
        )
        if address:
            progress("deployed; the cluster keeps serving (stop it with `serve shutdown`)")
            return
        progress("press Ctrl-C to stop")
        _block_until_signal()
        # disconnect() below stops the local instance with every Serve actor in it (a
        # serve.shutdown() first waits up to 30 s for the controller on a busy machine)
        progress("stopping Serve and Ray")
    finally:
        if info.started_here:
            disconnect()


def wait_ready(url: str, timeout_s: float) -> bool:
    """Poll ``GET url/readyz`` until 200 or ``timeout_s``."""
    import requests

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def _block_until_signal() -> None:
    stop = False

    def handler(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    old = signal.signal(signal.SIGTERM, handler)
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, old)
