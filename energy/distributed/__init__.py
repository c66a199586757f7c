"""Distributed training on Ray: the only part of ``energy`` that imports Ray.

* :mod:`.cluster`: :func:`connect` (``RAY_ADDRESS``, else a fresh local instance), the one call
  that starts or joins Ray, made only by the entry points (CLI, ``jobs/``, ``serve_app``);
* :mod:`.torch_train`: LSTM / Transformer on Ray Train (``TorchTrainer``, DDP, per-epoch
  checkpoints, resume after worker failures);
* :mod:`.xgb_train`: sharded XGBoost on Ray Train (``XGBoostTrainer`` over Ray Data);
* :mod:`.fanout`: per-city models as Ray tasks, several cities per task;
* :mod:`.backend`: ``with ray_training(settings): model.fit(...)`` routes a forecaster's fits there;
* :mod:`.tune`, :mod:`.search_space`, :mod:`.tune_trial`: hyper-parameter search with Ray Tune.
* :mod:`.retrain_jobs`, :mod:`.scheduler`: scheduled retraining as Ray jobs (one job per slot,
  retried once, failures notified) and the ``energy schedule run`` daemon (APScheduler).

The models' own code (``energy.models``) stays Ray-free: each model describes its fit as a job
(``training_job``) that the same loop functions run in-process, in Ray workers or in Tune trials.
Importing this package does not import Ray; :func:`connect` and its companions load it on first
use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from energy.distributed.settings import RaySettings, parse_options

if TYPE_CHECKING:
    from energy.distributed.cluster import (
        ClusterInfo,
        NotConnectedError,
        connect,
        current,
        disconnect,
        ray_session,
    )

__all__ = [
    "ClusterInfo",
    "NotConnectedError",
    "RaySettings",
    "connect",
    "current",
    "disconnect",
    "parse_options",
    "ray_session",
]
_CLUSTER = {"ClusterInfo", "NotConnectedError", "connect", "current", "disconnect", "ray_session"}


def __getattr__(name: str) -> Any:
    if name in _CLUSTER:  # imports Ray: only when an entry point asks for it
        from energy.distributed import cluster

        return getattr(cluster, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
