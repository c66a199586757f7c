"""Experiment tracking and the model registry: the only package that imports mlflow.

Where runs go: ``MLFLOW_TRACKING_URI`` when set (e.g. ``http://127.0.0.1:5000`` from
``make mlflow-server``), else an embedded SQLite store ``<ENERGY_HOME>/mlflow/mlflow.db`` with
artifacts in ``<ENERGY_HOME>/mlflow/artifacts`` (:mod:`energy.home`; default ``~/.energy``);
always an absolute URI, because Ray moves the working directory of workers and trials (pass
:func:`tracking_uri` to them explicitly). ``ENERGY_TRACKING=0`` (CLI:
``--no-track``) turns tracking into a no-op; ``ENERGY_EXPERIMENT`` names the experiment
(default ``energy``). An unreachable server is a :class:`TrackingUnavailableError` within seconds
(not MLflow's minutes of HTTP retries).

* :mod:`~energy.tracking.store`: URIs, the client, errors.
* :mod:`~energy.tracking.runs`: :func:`start_run` logs the resolved config as flattened params,
  metrics in batches, the data set as an MLflow input (source path + content hash), the git
  commit and package versions (:mod:`energy.versions`), artifacts.
* :mod:`~energy.tracking.models`: a model package (:mod:`energy.forecast.package`) as a pyfunc model
  (:mod:`~energy.tracking.pyfunc_model`), versions, aliases and tags; :func:`resolve_alias`
  downloads the package a version holds.

Promotion policy lives in :mod:`energy.lifecycle.promotion` and
:mod:`energy.lifecycle.champion`, which call the
functions re-exported here. mlflow is imported inside functions, so that commands that never
track (``energy data ...``) do not pay for it.
"""

from energy.tracking.models import (
    RegisteredVersion,
    alias_version,
    create_model,
    delete_model,
    download_package,
    get_version,
    list_versions,
    log_package,
    model_tags,
    register_model,
    register_package,
    resolve_alias,
    set_alias,
    set_model_tag,
    set_version_tags,
)
from energy.tracking.runs import Run, flatten, git_commit, metric_key, start_run
from energy.tracking.store import (
    DEFAULT_MODEL_NAME,
    RegistryLookupError,
    TrackingError,
    TrackingUnavailableError,
    client,
    enabled,
    experiment_name,
    tracking_uri,
)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "RegisteredVersion",
    "RegistryLookupError",
    "Run",
    "TrackingError",
    "TrackingUnavailableError",
    "alias_version",
    "client",
    "create_model",
    "delete_model",
    "download_package",
    "enabled",
    "experiment_name",
    "flatten",
    "get_version",
    "git_commit",
    "list_versions",
    "log_package",
    "metric_key",
    "model_tags",
    "register_model",
    "register_package",
    "resolve_alias",
    "set_alias",
    "set_model_tag",
    "set_version_tags",
    "start_run",
    "tracking_uri",
]
