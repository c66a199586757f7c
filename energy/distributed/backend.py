"""The Ray training backend: routes a forecaster's heavy fits to Ray Train and Ray tasks.

``with ray_training(settings): model.fit(train, val)`` trains any forecaster — the ensemble, a
member, a per-city wrapper — with its usual code, except that the LSTM/Transformer loop runs in
``TorchTrainer`` workers, XGBoost in ``XGBoostTrainer`` workers over Ray Data shards, and per-city
models as a fan-out of Ray tasks (see :mod:`energy.models.backend` for the three jobs).

The backend runs on the Ray connection it finds: the entry point connects first
(:func:`energy.distributed.cluster.connect`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from energy.data.dataset import Dataset
from energy.distributed import cluster, fanout, torch_train, xgb_train
from energy.distributed.settings import RaySettings
from energy.models._neural import NetJob
from energy.models.backend import TrainingBackend, use_backend
from energy.models.base import Forecaster
from energy.models.spec import ModelSpec
from energy.models.xgb import BoostJob

log = logging.getLogger(__name__)


class RayBackend(TrainingBackend):
    """Ray Train for the global models, Ray tasks for per-city models.

    Train runs are named ``<run_name>-<kind>-<n>`` (``n`` counts fits of that kind in this
    backend, in order), so running the same command again with the same ``run_name`` and
    ``storage_path`` resumes every fit from its latest checkpoint.
    """

    def __init__(self, settings: RaySettings, *, progress: fanout.Progress = log.info) -> None:
        self.settings = settings
        self.progress = progress
        self.prefix = settings.run_name or time.strftime("energy-%Y%m%d-%H%M%S")
        self._fits: Counter[str] = Counter()
        self.last_fanout: fanout.FanoutResult | None = None

    def run_name(self, kind: str) -> str:
        self._fits[kind] += 1
        return f"{self.prefix}-{kind}-{self._fits[kind]}"

    def fit_net(self, job: NetJob) -> dict[str, Any]:
        return torch_train.fit_net(job, self.settings, name=self.run_name(job.kind))

    def fit_boosters(self, job: BoostJob) -> list[Any]:
        return xgb_train.fit_boosters(job, self.settings, name=self.run_name("xgb"))

    def fit_cities(
        self, spec: ModelSpec, train: Dataset, val: Dataset | None
    ) -> dict[str, Forecaster]:
        result = fanout.train_cities(spec, train, val, self.settings, progress=self.progress)
        self.last_fanout = result
        if result.failures:
            raise fanout.FanoutError(result)
        return result.models


@contextmanager
def ray_training(
    settings: RaySettings | None = None, *, progress: fanout.Progress = log.info
) -> Iterator[tuple[RayBackend, cluster.ClusterInfo]]:
    """Route every fit inside the block to a :class:`RayBackend` on the connected cluster.

    Raises:
        NotConnectedError: the entry point has not connected to Ray.
    """
    info = cluster.current()
    progress(f"Ray backend on {info}")
    backend = RayBackend(settings or RaySettings(), progress=progress)
    with use_backend(backend):
        yield backend, info
