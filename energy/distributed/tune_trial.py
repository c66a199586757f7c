"""Inside a Ray Tune trial: build the trial's model from the profile, fit it through
:meth:`Forecaster.fit` with a :class:`TrialBackend` that reports to Tune, score the validation days.

What a trial reports (``best_val_loss`` is the lowest validation loss so far, in the model's own
loss on scaled load, so it never rises and ASHA compares like with like):

* LSTM / Transformer: once per epoch, from ``fit_loop``'s epoch hook (or, for a distributed
  trial, from the Ray Train workers);
* XGBoost: once per ``boost_chunk`` boosting rounds; the step groups of ``per_step`` boost in
  lockstep (:func:`boost_lockstep`: the same trees as the model's own fit) and the loss is their
  step-weighted mean, so every report covers the whole model;
* at the end ``val_mape``: day-ahead MAPE (%, mean over cities) from daily origins over the
  validation days, and ``finished`` = 1. Trials that ASHA stopped have no ``val_mape``.
"""

from __future__ import annotations

import copy
import math
import queue
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
from energy.models.backend import TrainingBackend, use_backend
from energy.models.base import Forecaster, Param

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

    def fit_net(self, model: Any, train_windows: Any, val_windows: Any) -> dict[str, Any] | None:
        if self.inner is not None:
            state = self.inner.fit_net(model, train_windows, val_windows)
            if state is not None:
                self.best = min(h["best_val_loss"] for h in state["history"])
            return state
        from energy.models._torch_loop import fit_loop

        def hook(epoch: int, m: dict[str, float], sd: Any) -> None:
            model.log_epoch(epoch, m, sd)
            self._emit({k: m[k] for k in ("epoch", "train_loss", "val_loss", "best_val_loss")})

        cfg = model.config.loop_config()
        return fit_loop(model.net_, train_windows, val_windows, cfg, on_epoch_end=hook)

    def fit_boosters(
        self, model: Any, train: Dataset, val: Dataset | None
    ) -> tuple[list[int], list[Any], list[Any]]:
        groups = list(model.group_rows(train, val))
        ends = [end for end, _, _ in groups]
        weights = np.diff([0, *ends]).astype(float)  # steps per group
        boosters = boost_lockstep(
            model.booster_params(), [rows for _, _, rows in groups], weights,
            self.boost_chunk, self._emit,
        )  # fmt: skip
        return ends, [pipe for _, pipe, _ in groups], boosters


class _GroupBooster(threading.Thread):
    """One step group's booster, boosted ``n`` rounds at a time on request, in its own thread.

    XGBoost's random generator (``subsample``, ``colsample_*``) is per thread and seeded when a
    booster starts: groups interleaved on one thread would draw from one stream and grow other
    trees than the model's own fit, where each group starts afresh. One thread per group gives
    each the stream it has when trained alone (the unit test checks identical predictions).
    """

    def __init__(self, params: dict[str, Any], d: xgb.DMatrix, v: xgb.DMatrix | None,
                 rounds: int, stop: int | None) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.booster = xgb.Booster(params, [d] + ([v] if v is not None else []))
        self.d, self.v, self.rounds, self.stop = d, v, rounds, stop
        self.it, self.best, self.best_it, self.last, self.done = 0, math.inf, -1, math.nan, False
        self.todo: queue.Queue[int | None] = queue.Queue()
        self.ack: queue.Queue[BaseException | None] = queue.Queue()

    def run(self) -> None:
        while (n := self.todo.get()) is not None:
            try:
                self._boost(n)
                self.ack.put(None)
            except BaseException as e:  # re-raised by the trial's thread
                self.ack.put(e)
                return

    def _boost(self, n: int) -> None:
        """``n`` more rounds, early-stopped exactly as ``xgb.train`` does."""
        for _ in range(n):
            it = self.it
            self.booster.update(self.d, it)
            self.it += 1
            if self.v is not None and self.stop is not None:
                self.last = float(self.booster.eval_set([(self.v, "val")], it).rsplit(":", 1)[1])
                if self.last < self.best:
                    self.best, self.best_it = self.last, it
                elif it - self.best_it >= self.stop:
                    self.done = True
            if self.it >= self.rounds:
                self.done = True
            if self.done:
                return

    def result(self) -> xgb.Booster:
        """The booster cut at its best validation round (as the model's own fit keeps it)."""
        return self.booster[: self.best_it + 1] if self.best_it >= 0 else self.booster


def boost_lockstep(
    bp: Any, rows: list[Any], weights: np.ndarray, chunk: int, report: Report
) -> list[xgb.Booster]:
    """Boost every step group's booster ``chunk`` rounds at a time together, each early-stopped
    on its own validation rows, and report after each chunk.

    Args:
        bp: :class:`~energy.models.xgb.BoostParams` of the model.
        rows: :class:`~energy.models.xgb.BoostRows` per step group.
        weights: steps per group; the reported loss is the weighted mean over groups.
        chunk: rounds per report.
        report: receives ``boost_round``, ``val_loss`` (current) and ``best_val_loss``.

    Returns:
        One booster per group, cut at its best validation round.
    """
    params = {**bp.params, "nthread": bp.nthread}
    groups = []
    for r in rows:
        d: xgb.DMatrix
        v: xgb.DMatrix | None
        kw = {"feature_names": r.feature_names, "nthread": bp.nthread}
        if bp.quantile:
            d = xgb.QuantileDMatrix(r.x, r.y, **kw)
            v = xgb.QuantileDMatrix(r.xv, r.yv, ref=d, **kw) if r.xv is not None else None
        else:
            d = xgb.DMatrix(r.x, r.y, **kw)
            v = xgb.DMatrix(r.xv, r.yv, **kw) if r.xv is not None else None
        stop = bp.early_stopping_rounds if v is not None else None
        groups.append(_GroupBooster(params, d, v, bp.num_boost_round, stop))
    for g in groups:
        g.start()
    try:
        while active := [g for g in groups if not g.done]:
            for g in active:
                g.todo.put(chunk)
            for g in active:
                if (err := g.ack.get()) is not None:
                    raise err
            scored = [i for i, g in enumerate(groups) if g.best_it >= 0]
            if scored:
                w = weights[scored] / weights[scored].sum()
                last = [groups[i].last for i in scored]
                best = [groups[i].best for i in scored]
                report({"boost_round": float(max(g.it for g in groups)),
                        "val_loss": float(np.dot(w, last)),
                        "best_val_loss": float(np.dot(w, best))})  # fmt: skip
    finally:
        for g in groups:
            g.todo.put(None)
    return [g.result() for g in groups]


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

    def fit_net(self, model: Any, train_windows: Any, val_windows: Any) -> dict[str, Any]:
        import ray
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer
        from ray.tune.integration.ray_train import TuneReportCallback

        from energy.distributed import torch_train as tt

        config = {
            "model": model, "train": ray.put(tt._arrays(train_windows)),
            "val": ray.put(tt._arrays(val_windows)) if val_windows is not None else None,
            "use_gpu": False,
        }  # fmt: skip
        trainer = TorchTrainer(
            tt.train_loop, train_loop_config=config,
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
            raise RuntimeError(f"{model.kind}: the trial's Ray Train run reported no checkpoint")
        state = tt.load_state(result.checkpoint)
        model.net_.load_state_dict(state["best_model"] or state["model"])
        return state


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
