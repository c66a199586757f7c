"""Where durable state lives: ``ENERGY_HOME``, resolved once to an absolute path.

Everything the project keeps between runs sits under one folder, never under the current one:

* ``<home>/mlflow/``: the embedded MLflow store (``mlflow.db`` and ``artifacts/``), used when
  ``MLFLOW_TRACKING_URI`` is not set (see :mod:`energy.tracking`);
* ``<home>/monitoring/``: the monitoring store;
* ``<home>/runs/``: run outputs;
* ``<home>/jobs/<submission id>/``: the folder a submitted Ray job's driver stands in.

``ENERGY_HOME`` defaults to ``~/.energy``: right on one machine. On a cluster every node must see
the same state, so set ``MLFLOW_TRACKING_URI`` to a tracking server (cluster/README.md) or
``ENERGY_HOME`` to storage every node mounts.

Why a job's driver must not stay where Ray starts it: ``ray job submit --working-dir .`` starts
the driver inside the unpacked package ``<temp>/session_*/runtime_resources/working_dir_files/
_ray_pkg_<hash>``. In Ray 2.60 ``WorkingDirPlugin.create``
(``ray/_private/runtime_env/working_dir.py``) unpacks with ``download_and_unpack_package(...,
overwrite=True)`` (``packaging.py``), which ``shutil.rmtree``-s an existing folder and unpacks it
again whenever a node's runtime-env agent misses the URI in its own in-memory ``URICache``
(``plugin.py: create_for_plugin_if_needed``). Nodes that share a temp folder (two ``ray start``
on one machine, ``ray.cluster_utils.Cluster``, pods sharing a host path) share that folder: the
first worker of a new package on another node deletes the driver's current folder under it, and
``os.getcwd()`` raises ``FileNotFoundError`` from then on (the same path comes back as a new
folder, so imports from it still work). Ray also deletes the package when its cache evicts it
and when the session ends, so nothing written there is durable. :func:`prepare_job_driver`
moves the driver, and the code it imports, into ``<home>/jobs/<submission id>`` before any work:
imports that happen while the folder is being unpacked again would fail too (a package folder
without its ``__init__.py`` yet imports as an empty namespace package).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

ENV = "ENERGY_HOME"
DEFAULT = "~/.energy"
# Set by Ray's job supervisor for the driver of a submitted job only (ray 2.60:
# dashboard/modules/job/job_supervisor.py, ``_get_driver_env_vars``); its metadata holds the
# submission id. Workers and Serve replicas do not get it.
RAY_JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"
PREPARED = "ENERGY_JOB_DIR"  # set for a job driver running from its durable folder
OUTPUT_FLAGS = ("--out",)  # written by the job: relative is an error inside a job
INPUT_FLAGS = ("--config", "--data", "--tune-config")  # read: relative = in the uploaded code


class HomeError(ValueError):
    """A state folder that cannot be used, with a one-line message naming the path or flag."""


@functools.cache
def home() -> Path:
    """``ENERGY_HOME`` (``~`` expanded; relative to the folder of the first call), else
    ``~/.energy``: absolute, resolved once per process. Created by :func:`ensure`, not here."""
    raw = os.environ.get(ENV, "").strip() or DEFAULT
    return Path(os.path.abspath(os.path.expanduser(raw)))


def reset() -> None:
    """Forget the resolved home (tests that change ``ENERGY_HOME``)."""
    home.cache_clear()


def ensure(path: Path) -> Path:
    """``path`` created (with parents) if missing; a failure names the path and the variable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HomeError(
            f"{ENV}: cannot create {str(path)!r} ({e.strerror or e}); set {ENV} to a writable "
            "folder"
        ) from None
    return path


def mlflow_dir() -> Path:
    """The embedded MLflow store: ``mlflow.db`` and ``artifacts/`` (not created here)."""
    return home() / "mlflow"


def monitoring_dir() -> Path:
    """The monitoring store's folder (not created here)."""
    return home() / "monitoring"


def runs_dir() -> Path:
    """Run outputs (not created here)."""
    return home() / "runs"


def jobs_dir() -> Path:
    """Working folders of submitted jobs' drivers, one per submission id (not created here)."""
    return home() / "jobs"


def in_ray_job() -> bool:
    """Whether this process is the driver of a job submitted to Ray's job API."""
    return RAY_JOB_ENV in os.environ


def submission_id() -> str | None:
    """The submission id of the Ray job this process drives; None outside a job."""
    raw = os.environ.get(RAY_JOB_ENV)
    if raw is None:
        return None
    try:
        found = json.loads(raw).get("metadata", {}).get("job_submission_id")
    except (ValueError, AttributeError):
        found = None
    return str(found) if found else f"driver-{os.getpid()}"


def _flag_value(argv: list[str], i: int, flag: str) -> tuple[int, str] | None:
    """Index and value of ``flag`` at ``argv[i]`` (``--flag V`` or ``--flag=V``), else None."""
    arg = argv[i]
    if arg == flag and i + 1 < len(argv):
        return i + 1, argv[i + 1]
    if arg.startswith(flag + "="):
        return i, arg.split("=", 1)[1]
    return None


def job_arguments(argv: Sequence[str], start: Path) -> list[str]:
    """``argv`` of a job with its paths checked: a relative output flag is an error naming the
    flag; a relative input path that exists under ``start`` (the uploaded working dir) becomes
    absolute, so that it still reads the same file once the driver has moved."""
    args = list(argv)
    for i in range(len(args)):
        for flag in OUTPUT_FLAGS + INPUT_FLAGS:
            found = _flag_value(args, i, flag)
            if found is None or "://" in found[1] or Path(found[1]).is_absolute():
                continue
            j, value = found
            if flag in OUTPUT_FLAGS:
                raise HomeError(
                    f"{flag}: {value!r} is relative; inside a Ray job it would land in Ray's "
                    "temporary package folder, which Ray deletes: pass an absolute path on "
                    f"storage every node shares (e.g. {flag} /mnt/shared/runs/NAME)"
                )
            if (start / value).exists():
                absolute = str(start / value)
                args[j] = absolute if args[j] == value else f"{flag}={absolute}"
            elif flag == "--data":  # --config may name a profile (cpu) rather than a file
                raise HomeError(
                    f"--data: {value!r} is relative and not in the job's working dir; pass an "
                    "absolute path on storage every node shares"
                )
    return args


def check_job_environment(start: Path, argv: Sequence[str] = ()) -> None:
    """Inside a job, state must go to a tracking URI or an explicit ``ENERGY_HOME`` (which the
    user vouches is on shared storage), both absolute and outside Ray's package folder ``start``.
    Tracking turned off (``--no-track``, ``ENERGY_TRACKING=0``) needs neither."""
    raw = os.environ.get(ENV, "").strip()
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    tracking_on = "--no-track" not in argv and os.environ.get(
        "ENERGY_TRACKING", "1"
    ).strip().lower() not in {"0", "false", "no", "off"}
    if uri.startswith("sqlite:///") and not uri.removeprefix("sqlite:///").startswith("/"):
        raise HomeError(
            f"MLFLOW_TRACKING_URI: {uri!r} is a relative path; inside a Ray job use a server "
            "(http://host:port) or sqlite:////absolute/path/on/shared/storage.db"
        )
    if not raw and not uri and tracking_on:
        raise HomeError(
            "inside a Ray job with no tracking server: set MLFLOW_TRACKING_URI to the cluster's "
            f"MLflow server (e.g. http://mlflow:5000) or {ENV} to a folder every node shares "
            f"(e.g. /mnt/shared/energy), in the job's runtime_env env_vars or on the nodes; "
            "see cluster/README.md"
        )
    if raw and not os.path.isabs(os.path.expanduser(raw)):
        raise HomeError(f"{ENV}: {raw!r} is relative; inside a Ray job it must be absolute")
    if home() == start or start in home().parents or "runtime_resources" in home().parts:
        raise HomeError(f"{ENV}: {str(home())!r} is inside Ray's temporary package folder")


def _relaunch(start: Path, here: Path, args: list[str]) -> list[str] | None:
    """The command that runs this job entry point again from a copy of its code in
    ``here/working_dir``, or None when the entry point is not a file of the package ``start``."""
    import __main__

    main_file = getattr(__main__, "__file__", None)
    if not main_file or start not in Path(main_file).resolve().parents:
        return None
    code = here / "working_dir"
    try:
        shutil.copytree(start, code, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.pyc"))
    except (OSError, shutil.Error) as e:
        why = " ".join(str(e).split())[:200]  # shutil.Error lists every file: keep one line
        raise HomeError(f"{ENV}: cannot copy the job's code to {str(code)!r} ({why})") from None
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    os.environ["PYTHONPATH"] = os.pathsep.join(str(code) if p == str(start) else p for p in paths)
    spec = getattr(__main__, "__spec__", None)
    if spec is not None and spec.name:
        target = ["-m", spec.name.removesuffix(".__main__")]
    else:
        target = [str(code / Path(main_file).resolve().relative_to(start))]
    return [sys.executable, *target, *args]


def prepare_job_driver(argv: Sequence[str] | None = None) -> list[str]:
    """First call of a job entry point: outside a Ray job, ``argv`` unchanged. Inside one, check
    where state goes (:func:`check_job_environment`) and the path flags (:func:`job_arguments`),
    then leave Ray's package folder for good: copy the code to ``<home>/jobs/<id>/working_dir``,
    move into ``<home>/jobs/<id>`` and run the entry point again from the copy (``os.execv``: the
    same process), so neither the current folder nor a later import depends on the package that
    another node may delete and unpack again meanwhile. Ray workers still get the package.

    A problem ends the process with one ``error: ...`` line and exit status 2 (``ENERGY_DEBUG=1``:
    the traceback), before any work.

    Args:
        argv: the job's arguments (default ``sys.argv[1:]``).

    Returns:
        The arguments to run the job with (input paths made absolute).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not in_ray_job() or os.environ.get(PREPARED) == os.getcwd():
        return args  # not a job, or already running from the copy in the durable folder
    try:
        start = Path(os.getcwd())  # the only read of the current folder, before any Ray work
        check_job_environment(start, args)
        args = job_arguments(args, start)
        here = ensure(jobs_dir() / str(submission_id()))
        command = _relaunch(start, here, args)
    except HomeError as e:
        if os.environ.get("ENERGY_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    os.chdir(here)
    os.environ[ENV] = str(home())  # the relaunched driver and its subprocesses: the same home
    os.environ[PREPARED] = str(here)
    print(f"[energy] job {submission_id()}: working folder {here} (started in {start})",
          file=sys.stderr, flush=True)  # fmt: skip
    if command is not None:
        sys.stdout.flush()
        os.execv(command[0], command)
    return args
