"""Inside a Ray Tune trial: build the trial's model from the profile, fit it through
:meth:`Forecaster.fit` with a :class:`TrialBackend` that reports to Tune, score the validation days.

What a trial reports (``best_val_loss`` is the lowest validation loss so far, in the model's own
loss on scaled load, so it never rises and ASHA compares like with like):

* LSTM / Transformer: once per epoch, from ``fit_loop``'s epoch hook (or, for a distributed
  trial, from the Ray Train workers);
* XGBoost: once per ``boost_chunk`` boosting rounds. Each step group of ``per_step`` runs the
  model's own :func:`~energy.models.xgb.train_booster` (its early stopping included) in a thread
  of its own, and a per-round hook pauses the groups at every chunk boundary
  (:func:`boost_lockstep`), so that the loss reported is the step-weighted mean over the whole
  model at the same round;
* at the end ``val_mape``: day-ahead MAPE (%, mean over cities) from daily origins over the
  validation days, and ``finished`` = 1. Trials that ASHA stopped have no ``val_mape``.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from ray import tune

from energy import schema
from energy.config.experiment import ExperimentConfig
from energy.data.dataset import Dataset
from energy.distributed import search_space as ss
from energy.evaluation import metrics
from energy.lifecycle.experiment import split_validation
from energy.models import kinds as registry
from energy.models._neural import NetJob
from energy.models.backend import TrainingBackend, use_backend
from energy.models.base import Forecaster, Param
from energy.models.xgb import BoostJob, BoostParams, BoostRows, train_booster

Report = Callable[[dict[str, float]], None]


@dataclass(frozen=True)
class TrialSpec:
    """Everything a trial needs besides its sampled values (picklable)."""

    kind: str
    profile: dict[str, Any]
    space: dict[str, Param]
    fixed: dict[str, Any]
    val_days: int
    per_step_reports: bool
    boost_chunk: int
    threads: int
    workers: int

    def experiment(self, params: dict[str, Any]) -> ExperimentConfig:
        """The profile with this kind's config fields replaced by ``params`` (validated)."""
        data = copy.deepcopy(self.profile)
        models = data.setdefault("models", {}) or {}
        models[self.kind] = {**(models.get(self.kind) or {}), **self.fixed, **params}
        data["models"] = models
        return ExperimentConfig.model_validate(data)

    def current(self) -> dict[str, Any]:
        """The profile's config of this kind with every default filled in."""
        cfg = self.experiment({}).member_configs()[self.kind]
        return registry.model_class(self.kind).Config.model_validate(cfg).model_dump()

    def model_config(self, params: dict[str, Any]) -> dict[str, Any]:
        """Model config of a trial; thread counts sized to the trial's CPUs (results unchanged)."""
        cfg = self.experiment(params).member_configs()[self.kind]
        cfg["n_jobs" if self.kind == "xgboost" else "num_threads"] = self.threads
        return cfg


class TrialBackend(TrainingBackend):
    """Trains in the trial's process exactly as the model does alone, reporting as it goes.

    Args:
        report: called with the metrics of each epoch / chunk of boosting rounds; None: quiet.
        boost_chunk: XGBoost boosting rounds per report.
        inner: a backend that trains the network elsewhere (Ray Train workers that report to
            Tune themselves); None: in this process.
    """

    def __init__(
        self, report: Report | None, boost_chunk: int, inner: TrainingBackend | None = None
    ) -> None:
        self.report, self.boost_chunk, self.inner = report, boost_chunk, inner
        self.best = math.inf

    def _emit(self, m: dict[str, float]) -> None:
        self.best = min(self.best, float(m["best_val_loss"]))
        if self.report is not None:
            self.report(m)

    def fit_net(self, job: NetJob) -> dict[str, Any] | None:
        if self.inner is not None:
            state = self.inner.fit_net(job)
            if state is not None:
                self.best = min(h["best_val_loss"] for h in state["history"])
            return state

        def hook(epoch: int, m: dict[str, float], _: Any) -> None:
            job.recipe.log_epoch(epoch, m)
            self._emit({k: m[k] for k in ("epoch", "train_loss", "val_loss", "best_val_loss")})

        return job.fit(on_epoch_end=hook)

    def fit_boosters(self, job: BoostJob) -> list[xgb.Booster]:
        return boost_lockstep(job, self.boost_chunk, self._emit)


class _Group(threading.Thread):
    """One step group's :func:`train_booster` in its own thread, paused every ``chunk`` rounds
    until the trial has reported.

    XGBoost's random generator (``subsample``, ``colsample_*``) is per thread and seeded when a
    booster starts: groups interleaved on one thread would draw from one stream and grow other
    trees than the model's own fit, where each group starts afresh. One thread per group gives
    each the stream it has when trained alone (the unit test checks identical predictions).
    """

    def __init__(self, params: BoostParams, rows: BoostRows, chunk: int,
                 cond: threading.Condition) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.params, self.rows, self.chunk, self.cond = params, rows, chunk, cond
        self.rounds, self.last, self.best = 0, math.nan, math.inf
        self.paused = self.done = self.abort = False
        self.booster: xgb.Booster | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.booster = train_booster(self.params, self.rows, on_round=self._after_round)
        except BaseException as e:  # re-raised by the trial's thread
            self.error = e
        finally:
            with self.cond:
                self.done = True
                self.cond.notify_all()

    def _after_round(self, rounds: int, loss: float | None) -> bool:
        with self.cond:
            self.rounds = rounds
            if loss is not None:
                self.last, self.best = loss, min(self.best, loss)
            if rounds % self.chunk == 0:
                self.paused = True
                self.cond.notify_all()
                self.cond.wait_for(lambda: not self.paused)
            return self.abort  # the trial ended (e.g. stopped by ASHA): stop boosting


def boost_lockstep(job: BoostJob, chunk: int, report: Report) -> list[xgb.Booster]:
    """Every step group's booster, each trained by :func:`train_booster` (early-stopped on its
    own validation rows, as the model's own fit), all paused together every ``chunk`` rounds for
    one report.

    Args:
        job: what the XGBoost model trains.
        chunk: rounds per report.
        report: receives ``boost_round``, ``val_loss`` (current) and ``best_val_loss``: means
            over the groups that validate, weighted by their steps.

    Returns:
        One booster per group, cut at its best validation round.
    """
    cond = threading.Condition()
    groups = [_Group(job.params, rows, chunk, cond) for _, rows in job.groups()]
    weights = np.diff([0, *job.group_ends]).astype(float)  # steps per group
    for g in groups:
        g.start()
    shown: tuple[int, ...] = ()
    try:
        while True:
            with cond:  # every group at the chunk boundary, or finished
                cond.wait_for(lambda: all(g.paused or g.done for g in groups))
            if errors := [g.error for g in groups if g.error is not None]:
                raise errors[0]
            scored = [i for i, g in enumerate(groups) if g.best < math.inf]
            now = tuple(g.rounds for g in groups)
            if scored and now != shown:
                w = weights[scored] / weights[scored].sum()
                last, best = ([getattr(groups[i], a) for i in scored] for a in ("last", "best"))
                report({"boost_round": float(max(now)), "val_loss": float(np.dot(w, last)),
                        "best_val_loss": float(np.dot(w, best))})  # fmt: skip
            shown = now
            if all(g.done for g in groups):
                break
            with cond:
                for g in groups:
                    g.paused = False
                cond.notify_all()
    finally:
        with cond:  # after an error or a stopped trial: every thread ends at its next round
            for g in groups:
                g.abort, g.paused = not g.done, False
            cond.notify_all()
        for g in groups:
            g.join()
    return [g.booster for g in groups if g.booster is not None]


def validation_mape(model: Forecaster, data: Dataset, val: Dataset, horizon: int) -> float:
    """Day-ahead MAPE (%, mean over cities) from daily origins over the validation rows; the
    forecasts read only load before each origin (the forecaster contract)."""
    ts = val.load[schema.TIME]
    start, end = ts.min(), ts.max()
    n_origins = int((end - start) / pd.Timedelta(hours=1) + 1 - horizon) // 24 + 1
    if n_origins < 1:
        raise ValueError(f"val_days: the validation span is shorter than the {horizon} h horizon")
    cities = sorted(val.load[schema.CITY].unique())
    origins = pd.DataFrame(
        [(c, start + pd.Timedelta(days=k)) for c in cities for k in range(n_origins)],
        columns=[schema.CITY, "origin"],
    )
    reach = pd.Timedelta(hours=model.capabilities.min_history_hours + 24)
    load = data.load
    frame = load[(load[schema.TIME] >= start - reach) & load[schema.CITY].isin(cities)]
    pred = model.predict_origins(frame.reset_index(drop=True), data.cities, origins, horizon)
    both = pred.merge(load[[schema.CITY, schema.TIME, schema.LOAD]], on=[schema.CITY, schema.TIME])
    per_city = [metrics.mape(g[schema.LOAD], g["yhat"]) for _, g in both.groupby(schema.CITY)]
    return float(np.nanmean(per_city))


class TrainerInTrial(TrainingBackend):
    """A distributed trial (the Ray Train V2 pattern): the trial starts a ``TorchTrainer``
    running :func:`energy.distributed.torch_train.train_loop` on ``workers`` workers, whose
    per-epoch ``ray.train.report`` reach this trial through ``TuneReportCallback``."""

    def __init__(self, workers: int, cpus_per_worker: float) -> None:
        self.workers, self.cpus = workers, cpus_per_worker

    def fit_net(self, job: NetJob) -> dict[str, Any]:
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer
        from ray.tune.integration.ray_train import TuneReportCallback

        from energy.distributed import torch_train as tt

        trainer = TorchTrainer(
            tt.train_loop, train_loop_config=tt.loop_config(job, use_gpu=False),
            scaling_config=ScalingConfig(
                num_workers=self.workers, resources_per_worker={"CPU": self.cpus}
            ),
            run_config=RunConfig(
                name="train", storage_path=tune.get_context().get_trial_dir(),
                callbacks=[TuneReportCallback()],  # type: ignore[list-item]
            ),
        )  # fmt: skip
        result = trainer.fit()
        if result.checkpoint is None:
            raise RuntimeError(f"{job.kind}: the trial's Ray Train run reported no checkpoint")
        return tt.load_state(result.checkpoint)


def _inner_backend(spec: TrialSpec) -> TrainingBackend | None:
    return TrainerInTrial(spec.workers, float(spec.threads)) if spec.workers else None


def run_trial(config: dict[str, Any], spec: TrialSpec, data: Dataset) -> None:
    """The Tune trainable: fit the trial's model, report per epoch / chunk, then ``val_mape``."""
    params = ss.from_tune(config, spec.space)
    model = registry.create(spec.kind, spec.model_config(params))
    train, val = split_validation(data, spec.val_days)
    reporter = (lambda m: tune.report(dict(m))) if spec.per_step_reports else None
    backend = TrialBackend(reporter, spec.boost_chunk, _inner_backend(spec))
    t0 = time.perf_counter()
    with use_backend(backend):
        model.fit(train, val)
    fit_s = time.perf_counter() - t0
    mape = validation_mape(model, data, val, spec.experiment(params).horizon)
    tune.report({"best_val_loss": backend.best, "val_mape": mape, "fit_s": fit_s, "finished": 1.0})
