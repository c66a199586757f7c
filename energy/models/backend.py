"""Where a forecaster's heavy fits run: in this process (the default) or on a training backend
installed for a block of code.

The models ask the current backend at three points and otherwise train exactly as they do alone,
with the same loop functions:

* :class:`~energy.models._neural.NeuralForecaster`: ``fit_net`` trains the network built by
  ``build_net`` on the prepared windows (Ray Train's ``TorchTrainer`` in energy.distributed);
* :class:`~energy.models.xgb.XGBoostForecaster`: ``fit_boosters`` trains every step group's
  booster (Ray Train's ``XGBoostTrainer`` over Ray Data shards);
* :class:`~energy.models.per_city.PerCityForecaster`: ``fit_cities`` fits one model per city
  (a fan-out of Ray tasks).

A method that returns None leaves that fit to the model's in-process code. Nothing here imports
Ray: ``energy.distributed`` subclasses :class:`TrainingBackend` and installs it with
:func:`use_backend`. The backend is a context variable, so worker processes (which start without
it) train in-process: a per-city task never fans out again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from energy.data.dataset import Dataset
    from energy.features.windows import SequenceWindows
    from energy.models.base import Forecaster
    from energy.models.spec import ModelSpec


class TrainingBackend:
    """Base backend: every hook returns None (train in this process). Subclasses override."""

    def fit_net(
        self, model: Any, train_windows: SequenceWindows, val_windows: SequenceWindows | None
    ) -> dict[str, Any] | None:
        """Train ``model.net_`` (a fresh network from ``model.build_net``) in place.

        Returns the final :func:`~energy.models._torch_loop.fit_loop` state, with the best
        validation weights loaded into ``model.net_``; None: not handled here.
        """
        return None

    def fit_boosters(
        self, model: Any, train: Dataset, val: Dataset | None
    ) -> tuple[list[int], list[Any], list[Any]] | None:
        """XGBoost: ``(group_ends, pipelines, boosters)``, one per step group; None: not here."""
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
