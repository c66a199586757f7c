"""Where a forecaster's heavy fits run: in this process (the default) or on a training backend
installed for a block of code.

Each model says *what* to fit as a small public job and otherwise trains exactly as it does
alone, with the same loop functions; a backend decides *where* the job runs:

* :class:`~energy.models._neural.NeuralForecaster` → :meth:`TrainingBackend.fit_net` with a
  :class:`~energy.models._neural.NetJob`: windows, and a recipe that builds the network, logs an
  epoch and writes a loadable checkpoint (Ray Train's ``TorchTrainer`` in energy.distributed);
* :class:`~energy.models.xgb.XGBoostForecaster` → :meth:`TrainingBackend.fit_boosters` with a
  :class:`~energy.models.xgb.BoostJob`: booster parameters and each step group's rows (Ray
  Train's ``XGBoostTrainer`` over Ray Data shards);
* :class:`~energy.models.per_city.PerCityForecaster` → :meth:`TrainingBackend.fit_cities` with
  the inner model's spec: one :func:`~energy.models.per_city.fit_city` per city (a fan-out of Ray
  tasks).

A backend sees only the job, never a model's fitted attributes. A method that returns None
leaves the job to the model's in-process code. Nothing here imports Ray: ``energy.distributed``
subclasses :class:`TrainingBackend` and installs it with :func:`use_backend`. The backend is a
context variable, so worker processes (which start without it) train in-process: a per-city task
never fans out again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from energy.data.dataset import Dataset
    from energy.models._neural import NetJob
    from energy.models.base import Forecaster
    from energy.models.spec import ModelSpec
    from energy.models.xgb import BoostJob


class TrainingBackend:
    """Base backend: every hook returns None (train in this process). Subclasses override."""

    def fit_net(self, job: NetJob) -> dict[str, Any] | None:
        """Train the job's network; None: not handled here.

        Returns:
            The final :func:`~energy.models._torch_loop.fit_loop` state (``history``,
            ``best_model``, ``model``, ...), optionally with ``run``: where and how the backend
            ran it (kept, unsaved, as the model's ``backend_run_``).
        """
        return None

    def fit_boosters(self, job: BoostJob) -> list[Any] | None:
        """XGBoost: one booster per step group of the job, in group order; None: not here."""
        return None

    def fit_cities(
        self, spec: ModelSpec, train: Dataset, val: Dataset | None
    ) -> dict[str, Forecaster] | None:
        """Per-city models: ``{city_id: fitted spec.build()}`` for every training city."""
        return None


_BACKEND: ContextVar[TrainingBackend | None] = ContextVar("energy_training_backend", default=None)


def current_backend() -> TrainingBackend | None:
    """The backend installed by the innermost :func:`use_backend` block (None: in-process)."""
    return _BACKEND.get()


@contextmanager
def use_backend(backend: TrainingBackend | None) -> Iterator[TrainingBackend | None]:
    """Route the fits inside the block to ``backend`` (None: in-process)."""
    token = _BACKEND.set(backend)
    try:
        yield backend
    finally:
        _BACKEND.reset(token)
