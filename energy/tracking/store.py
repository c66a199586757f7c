"""Where tracking goes and how to reach it: URIs, the client, errors (see energy.tracking)."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from energy.home import mlflow_dir

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEFAULT_MODEL_NAME = "energy-forecast"


class TrackingError(RuntimeError):
    """Tracking or registry failure with a message for the user."""


class TrackingUnavailableError(TrackingError, ConnectionError):
    """The tracking server (or store) cannot be reached."""


class RegistryLookupError(KeyError):
    """A registered model, version or alias that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "not found"


def enabled() -> bool:
    """False when ``ENERGY_TRACKING`` is 0/false/off (tests, ``--no-track``)."""
    return os.environ.get("ENERGY_TRACKING", "1").strip().lower() not in {"0", "false", "no", "off"}


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else the embedded ``sqlite:////<ENERGY_HOME>/mlflow/mlflow.db``:
    absolute, from :func:`energy.home.home` (resolved once), never from the current folder."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if uri:
        return uri
    return f"sqlite:///{mlflow_dir() / 'mlflow.db'}"


def experiment_name() -> str:
    return os.environ.get("ENERGY_EXPERIMENT", "energy")


def _check_reachable(uri: str) -> None:
    """Fail fast with a readable message instead of MLflow's minutes of HTTP retries."""
    if uri.startswith(("http://", "https://")):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
                why = f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError) as e:
            why = str(getattr(e, "reason", e))
        raise TrackingUnavailableError(
            f"MLFLOW_TRACKING_URI: no MLflow tracking server answers at {uri!r} ({why}); start "
            "one with `make mlflow-server`, or unset MLFLOW_TRACKING_URI to use the local "
            "SQLite store"
        )
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TrackingUnavailableError(
                f"MLFLOW_TRACKING_URI: cannot create the SQLite store {str(db)!r} ({e})"
            ) from None
    elif "://" not in uri and not uri.startswith("databricks"):
        raise TrackingUnavailableError(
            f"MLFLOW_TRACKING_URI: {uri!r} is not a URI (use http://host:port or "
            "sqlite:////absolute/path.db)"
        )


def client() -> MlflowClient:
    """An MLflow client on :func:`tracking_uri` (checked first), also set as the global URI."""
    import mlflow

    uri = tracking_uri()
    _check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return mlflow.MlflowClient(uri, registry_uri=uri)


def experiment_id(c: MlflowClient) -> str:
    from mlflow.exceptions import MlflowException

    name = experiment_name()
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    uri = tracking_uri()
    where = None
    if uri.startswith("sqlite:///"):  # artifacts next to the database, not in the cwd
        where = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    try:
        return str(c.create_experiment(name, artifact_location=where))
    except MlflowException:  # created meanwhile by another process
        exp = c.get_experiment_by_name(name)
        if exp is None:
            raise
        return str(exp.experiment_id)


def not_found(e: Exception) -> bool:
    return getattr(e, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"
