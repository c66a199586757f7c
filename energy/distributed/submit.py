"""Submitting the project's jobs (``python -m jobs.<kind>``) to a Ray cluster's job API.

What ``ray job submit`` does, with the project's defaults: the repository as working dir, the
runtime env and excludes of ``cluster/runtime_env.yaml``, and a deterministic submission id, so
that submitting the same command with the same code twice is refused by Ray instead of running
twice (``JobSubmissionClient.submit_job`` rejects a duplicate id). :meth:`Submission.ray_command`
prints the equivalent ``ray job submit`` line, so Ray's own CLI stays an option.

Where the job keeps its state is the cluster's business (``MLFLOW_TRACKING_URI`` or
``ENERGY_HOME`` set on the nodes, cluster/README.md); ``env`` adds variables for one job.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

JOBS = ("train", "backtest", "tune", "forecast", "retrain")
RUNTIME_ENV_FILE = Path("cluster") / "runtime_env.yaml"
DEFAULT_ADDRESS = "http://127.0.0.1:8265"


class SubmitError(ValueError):
    """A job that cannot be submitted, with a one-line message naming the value at fault."""


@dataclass(frozen=True)
class Submission:
    """One job, ready to submit: ``python -m jobs.<kind> ARGS`` in ``working_dir``."""

    address: str
    submission_id: str
    entrypoint: str
    working_dir: Path
    runtime_env_file: Path | None
    env: dict[str, str] = field(default_factory=dict)

    def runtime_env(self) -> dict[str, Any]:
        """The runtime env sent to Ray: the file's, ``env`` added, the working dir set."""
        base: dict[str, Any] = {}
        if self.runtime_env_file is not None:
            base = yaml.safe_load(self.runtime_env_file.read_text()) or {}
        env_vars = {**(base.get("env_vars") or {}), **self.env}
        return {**base, "env_vars": env_vars, "working_dir": str(self.working_dir)}

    def ray_command(self) -> str:
        """The ``ray job submit`` line that submits the same job (run from ``working_dir``)."""
        parts = ["ray", "job", "submit", "--address", self.address]
        parts += ["--submission-id", self.submission_id, "--working-dir", "."]
        if self.env:  # --runtime-env and --runtime-env-json are exclusive: spell it all out
            env = {k: v for k, v in self.runtime_env().items() if k != "working_dir"}
            parts += ["--runtime-env-json", json.dumps(env, sort_keys=True)]
        elif self.runtime_env_file is not None:
            parts += ["--runtime-env", _relative(self.runtime_env_file, self.working_dir)]
        return shlex.join(parts) + " -- " + self.entrypoint


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def code_version(working_dir: Path, excludes: Sequence[str]) -> str:
    """The content hash Ray gives the working dir's package (``_ray_pkg_<hash>``)."""
    from ray._private import ray_constants
    from ray._private.runtime_env.packaging import get_uri_for_directory

    every = ray_constants.get_runtime_env_default_excludes() + list(excludes)
    return get_uri_for_directory(str(working_dir), include_gitignore=True, excludes=every)


def plan(
    kind: str,
    args: Sequence[str],
    *,
    working_dir: Path,
    address: str | None = None,
    runtime_env_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    python: str = "python",
    submission_id: str | None = None,
) -> Submission:
    """A :class:`Submission` for ``python -m jobs.<kind> ARGS``, checked before anything is sent.

    Args:
        kind: one of :data:`JOBS`.
        args: the job's own arguments (those of ``energy <kind>``).
        working_dir: the repository to upload; must hold ``jobs/<kind>.py``.
        address: the head's dashboard, ``http://HEAD:8265`` (default: :data:`DEFAULT_ADDRESS`).
        runtime_env_file: YAML runtime env (default: ``cluster/runtime_env.yaml`` when present).
        env: extra environment variables for this job (e.g. ``MLFLOW_TRACKING_URI``).
        python: the interpreter on the cluster's nodes.
        submission_id: None: ``energy-<kind>-<hash of command, env and code>``.
    """
    if kind not in JOBS:
        raise SubmitError(f"job: expected one of {', '.join(JOBS)}, got {kind!r}")
    root = working_dir.resolve()
    if not (root / "jobs" / f"{kind}.py").is_file():
        raise SubmitError(f"--working-dir: {str(root / 'jobs' / f'{kind}.py')!r} does not exist")
    env_file = runtime_env_file
    if env_file is None and (root / RUNTIME_ENV_FILE).is_file():
        env_file = root / RUNTIME_ENV_FILE
    if env_file is not None and not env_file.is_file():
        raise SubmitError(f"--runtime-env: {str(env_file)!r} does not exist")
    entrypoint = shlex.join([python, "-m", f"jobs.{kind}", *args])
    sub = Submission(
        address=address or DEFAULT_ADDRESS,
        submission_id="",
        entrypoint=entrypoint,
        working_dir=root,
        runtime_env_file=env_file.resolve() if env_file is not None else None,
        env=dict(env or {}),
    )
    if submission_id is None:
        renv = sub.runtime_env()
        code = code_version(root, renv.get("excludes") or [])
        key = json.dumps([entrypoint, renv.get("env_vars"), code], sort_keys=True)
        submission_id = f"energy-{kind}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return replace(sub, submission_id=submission_id)


def submit(sub: Submission, *, within_s: float = 180.0) -> str:
    """Send ``sub`` to the cluster; returns its submission id.

    A head whose job agent is still starting answers "No available agent" (for over a minute on
    a loaded machine), sometimes although it accepted the job: the id is looked up before trying
    again, for up to ``within_s``, so a retry never starts a second job. A job already
    submitted under the id is an error that says how to see it or run it again.
    """
    from ray.job_submission import JobSubmissionClient

    try:
        client = JobSubmissionClient(sub.address)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SubmitError(f"--address: no Ray job API at {sub.address!r} ({e})") from None
    deadline, retry = time.monotonic() + within_s, False
    while True:
        try:
            return str(
                client.submit_job(
                    entrypoint=sub.entrypoint,
                    runtime_env=sub.runtime_env(),
                    submission_id=sub.submission_id,
                )
            )
        except RuntimeError as e:
            if "already exists" in str(e) and retry:
                return sub.submission_id  # our earlier attempt was accepted after all
            if "already exists" in str(e):
                status = client.get_job_status(sub.submission_id)
                raise SubmitError(
                    f"submission id {sub.submission_id!r}: this command with this code was "
                    f"already submitted ({status}); see `ray job logs {sub.submission_id} "
                    f"--address {sub.address}`, or pass --submission-id NEW to run it again"
                ) from None
            if "No available agent" not in str(e) or time.monotonic() > deadline:
                raise SubmitError(f"{sub.address}: job not submitted ({e})") from None
        try:
            client.get_job_status(sub.submission_id)
            return sub.submission_id  # accepted after all
        except RuntimeError:
            retry = True
            time.sleep(2)  # the head's job agent is starting: retry, bounded by within_s


def follow(address: str, submission_id: str, write: Callable[[str], Any]) -> str:
    """Stream the job's logs to ``write`` until it ends; returns its final status (``SUCCEEDED``,
    ``FAILED``, ``STOPPED``)."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)

    async def tail() -> None:
        async for lines in client.tail_job_logs(submission_id):
            write(lines)

    asyncio.run(tail())
    while not (status := client.get_job_status(submission_id)).is_terminal():
        time.sleep(0.5)  # the log stream closed just before the status was recorded
    return str(status.value)
