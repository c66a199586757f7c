"""Hyper-parameter search with Ray Tune for one model kind, over a city, a group or all cities.

profile (YAML) + tune settings → search space (:mod:`energy.distributed.search_space`) → one Tune
trial per sampled config: the member model is built from the profile with the trial's values,
fitted through :meth:`Forecaster.fit` on the data set minus its last ``val_days`` days, and
scored on them → ``OUT/best.yaml`` (the profile with the tuned fields replaced, ready for
``energy train``), ``OUT/trials.csv``, ``OUT/curves.csv``, ``OUT/summary.json``, and MLflow (a
``tune`` parent run, one ``trial`` child run per trial with its params and curve).

What a trial reports and how it trains: :mod:`energy.distributed.tune_trial` (the same fit code as
``energy train``, through a training backend installed for the trial that only adds reports).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ray import tune as ray_tune

from energy.config.experiment import CONFIG_DIR, ExperimentConfig
from energy.distributed import cluster
from energy.distributed import search_space as ss
from energy.distributed import tune_results as tr
from energy.distributed.tune_trial import TrialSpec, run_trial
from energy.models.base import Param

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
TUNABLE = ("lstm", "transformer", "xgboost")
EXPERIMENT = "search"  # Tune's experiment folder under OUT
REQUEST_FILE = "tune_request.json"  # what the search was started with; --resume reads it


class TuneSettings(BaseModel):
    """How to search (CLI flags, or a YAML file for the rest). Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["lstm", "transformer", "xgboost"]
    search: str = "tpe"
    """tpe (Optuna TPE), gp (BayesOptSearch), random or grid."""
    samples: int = Field(default=20, ge=1)
    """Trials to run (grid: the most grid points allowed)."""
    time_budget_s: float | None = Field(default=None, gt=0)
    """Stop starting and running trials after this many seconds of wall time."""
    max_concurrent: int = Field(default=2, ge=1)
    metric: Literal["best_val_loss", "val_mape"] = "best_val_loss"
    """best_val_loss: reported per epoch / chunk (ASHA can stop trials); val_mape: once, after
    the fit (needs ``scheduler: none``)."""
    scheduler: Literal["asha", "none"] = "asha"
    grace_period: int = Field(default=1, ge=1)
    """ASHA: reports a trial makes before it can be stopped."""
    reduction_factor: float = Field(default=2.0, gt=1)
    boost_chunk: int = Field(default=25, ge=1)
    """XGBoost: boosting rounds per report."""
    cpus_per_trial: float = Field(default=1.0, gt=0)
    workers_per_trial: int = Field(default=0, ge=0)
    """>0: each LSTM/Transformer trial trains with Ray Train's TorchTrainer on this many workers."""
    grid_points: int = Field(default=3, ge=2)
    val_days: int | None = Field(default=None, ge=1)
    """Validation days at the end of the data (None: the profile's ``ensemble.val_days``)."""
    start_from_profile: bool = True
    """Evaluate the profile's own values first (when they lie in the space)."""
    seed: int = 0
    space: dict[str, Any] = Field(default_factory=dict)
    """Overrides of the model's search space (see energy.distributed.search_space)."""

    @field_validator("search")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ss.SEARCHES:
            raise ValueError(f"unknown algorithm {v!r} (expected one of {', '.join(ss.SEARCHES)})")
        return v

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.metric == "val_mape" and self.scheduler == "asha":
            raise ValueError("metric: val_mape is measured once, after the fit; ASHA needs a "
                             "per-epoch metric: use best_val_loss or scheduler none")  # fmt: skip
        if self.workers_per_trial and self.model == "xgboost":
            raise ValueError("workers_per_trial: distributed trials are for lstm and transformer")
        return self


def load_settings(path: str | Path | None = None, **flags: Any) -> TuneSettings:
    """Settings from an optional YAML file, with ``flags`` (not None) on top."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"--tune-config: {str(p)!r} does not exist")
        data = yaml.safe_load(p.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"--tune-config: {str(p)!r} must hold a mapping of settings")
    data.update({k: v for k, v in flags.items() if v is not None})
    return TuneSettings.model_validate(data)


def read_profile(config: str | Path) -> tuple[Path, dict[str, Any]]:
    """The profile's path and raw mapping (a path, or a name in energy/config/profiles)."""
    p = Path(config)
    if not p.suffix and not p.exists():
        p = CONFIG_DIR / f"{p.name}.yaml"
    if not p.is_file():
        raise FileNotFoundError(f"--config: {str(config)!r} does not exist")
    raw = yaml.safe_load(p.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"--config: {str(p)!r} must hold a mapping of settings")
    raw.setdefault("name", p.stem)
    return p.resolve(), raw


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def prune_space(spec: TrialSpec) -> tuple[dict[str, Param], list[str]]:
    """Drop the choices the profile cannot take (e.g. a lookback shorter than its lags); a range
    whose ends the profile rejects is an error naming the field."""
    space, notes = dict(spec.space), []
    for name, p in spec.space.items():
        if p.kind == "categorical":
            ok = []
            for c in p.choices or ():
                try:
                    spec.experiment({name: c})
                    ok.append(c)
                except ValidationError as e:
                    notes.append(f"space.{name}: choice {c!r} dropped ({_first_error(e)})")
            if not ok:
                raise ValueError(f"space.{name}: no choice fits this profile ({notes[-1]})")
            space[name] = Param("categorical", choices=tuple(ok))
            continue
        for end in (p.low, p.high):
            value = round(float(end or 0)) if p.kind == "int" else end
            try:
                spec.experiment({name: value})
            except ValidationError as e:
                raise ValueError(
                    f"space.{name}: {value} is not valid ({_first_error(e)})"
                ) from None
    return space, notes


# ---- the search ------------------------------------------------------------------------------
class _ProgressCallback(ray_tune.Callback):
    """One ``[energy]`` line per finished, stopped or failed trial, with the best so far."""

    def __init__(self, progress: Progress, total: int, metric: str) -> None:
        self.progress, self.total, self.metric = progress, total, metric
        self.done, self.best = 0, math.inf

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done += 1
        r = trial.last_result or {}
        value = r.get(self.metric, math.nan)
        self.best = min(self.best, value) if not math.isnan(value) else self.best
        how = (
            f"val_mape {r['val_mape']:.3f} %"
            if "val_mape" in r
            else f"stopped by ASHA after {r.get('training_iteration', '?')} reports"
        )
        self.progress(f"trial {self.done}/{self.total} {trial.trial_id}: {self.metric} "
                      f"{value:.4g}, {how}; best so far {self.best:.4g}")  # fmt: skip

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done += 1
        self.progress(f"trial {self.done}/{self.total} {trial.trial_id}: failed "
                      f"({trial.error_file or 'see the Tune logs'})")  # fmt: skip


def _searcher(settings: TuneSettings, point: dict[str, Any] | None) -> Any:
    """The search algorithm; the concurrency limit is TuneConfig's ``max_concurrent_trials``."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    points = [point] if point else None
    if settings.search == "tpe":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        # Optuna's default is 10 random start-up trials, i.e. pure random search at small
        # budgets; a quarter of the budget (at least 3) leaves the rest to the TPE model.
        sampler = optuna.samplers.TPESampler(
            seed=settings.seed,
            n_startup_trials=max(3, settings.samples // 4),
            multivariate=True,
        )
        return OptunaSearch(points_to_evaluate=points, sampler=sampler)
    if settings.search == "gp":
        from ray.tune.search.bayesopt import BayesOptSearch

        return BayesOptSearch(points_to_evaluate=points, random_state=settings.seed)
    if settings.search == "random":
        return BasicVariantGenerator(points_to_evaluate=points, random_state=settings.seed)
    return BasicVariantGenerator(random_state=settings.seed)  # grid


def _max_reports(spec: TrialSpec, space: dict[str, Param]) -> int:
    """The most per-step reports a trial can make (ASHA's ``max_t`` is one more: the final)."""
    base = spec.current()
    if spec.kind == "xgboost":
        p = space.get("n_estimators")
        rounds = int(p.high) if p is not None and p.high is not None else base["n_estimators"]
        return math.ceil(rounds / spec.boost_chunk)
    p = space.get("epochs")
    return int(p.high) if p is not None and p.high is not None else int(base["epochs"])


@dataclass
class Search:
    """A prepared search: what :func:`tune` runs (built by :func:`prepare`)."""

    settings: TuneSettings
    spec: TrialSpec
    param_space: dict[str, Any]
    point: dict[str, Any] | None
    notes: list[str]
    profile_path: Path


def prepare(config: str | Path, settings: TuneSettings) -> Search:
    """Validate the profile, the space and the settings before anything starts (clear errors)."""
    path, raw = read_profile(config)
    cfg = ExperimentConfig.model_validate(raw)
    space, fixed = ss.resolve_space(settings.model, settings.space)
    spec = TrialSpec(
        kind=settings.model, profile=raw, space=space, fixed=fixed,
        val_days=settings.val_days or cfg.ensemble.val_days,
        per_step_reports=settings.metric == "best_val_loss", boost_chunk=settings.boost_chunk,
        threads=max(1, int(settings.cpus_per_trial)), workers=settings.workers_per_trial,
    )  # fmt: skip
    space, notes = prune_space(spec)
    param_space, more = ss.to_tune(space, settings.search, settings.grid_points)
    notes += more
    spec = TrialSpec(**{**spec.__dict__, "space": space})
    if settings.search == "grid" and (n := ss.grid_size(
        {k: space[k] for k in param_space}, settings.grid_points)) > settings.samples:  # fmt: skip
        raise ValueError(f"--samples: the grid has {n} points, more than {settings.samples}; "
                         "narrow the space (tune YAML `space:`) or raise --samples")  # fmt: skip
    point = ss.start_point(space, param_space, spec.current())
    point = point if settings.start_from_profile else None
    if settings.start_from_profile and point is None and settings.search != "grid":
        notes.append("the profile's values lie outside the space: not evaluated first")
    if settings.search == "grid":
        point = None
    return Search(settings, spec, param_space, point, notes, path)


def tune(
    config: str | Path,
    data_dir: str | Path,
    out: str | Path,
    settings: TuneSettings,
    *,
    cities: list[str] | None = None,
    resume: bool = False,
    progress: Progress = log.info,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a search and write its results under ``out``.

    Args:
        config: the profile (path or a name in energy/config/profiles); other fields stay.
        data_dir: data set directory; the last ``val_days`` days are the validation rows.
        out: output directory (``best.yaml``, ``trials.csv``, ``curves.csv``, ``summary.json``,
            and Tune's own state in ``out/search``).
        settings: what and how to search.
        cities: city ids (None: all): one global model over them.
        resume: continue the interrupted search in ``out`` (``Tuner.restore``); it keeps the
            settings, profile and cities it was started with.
        progress: receives one line per finished trial.
        callbacks: extra Tune callbacks (tests).

    Returns:
        The summary also written to ``out/summary.json``.
    """
    from energy import tracking
    from energy.lifecycle.experiment import load_data

    out = Path(out).resolve()  # Tune needs an absolute storage path
    exp_path = out / EXPERIMENT
    if resume:
        if not ray_tune.Tuner.can_restore(str(exp_path)):
            raise FileNotFoundError(f"--resume: no search to resume in {str(out)!r}")
        tr.check_resumable(out, EXPERIMENT)  # before anything is unpickled
        request = json.loads((out / REQUEST_FILE).read_text())
        config, data_dir, cities = request["config"], request["data"], request["cities"]
        settings = TuneSettings.model_validate(request["settings"])
        progress(f"resuming the search in {exp_path} ({settings.search}, {settings.model})")
    search = prepare(config, settings)
    cluster.current()  # the entry point connects (never a Ray started implicitly by Tune)
    for note in search.notes:
        progress(note)
    data = load_data(data_dir, cities)
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        tr.write_marker(out, EXPERIMENT)
    request = {"config": str(search.profile_path), "data": str(Path(data_dir).resolve()),
               "cities": cities, "settings": settings.model_dump(mode="json")}  # fmt: skip
    (out / REQUEST_FILE).write_text(json.dumps(request, indent=2) + "\n")
    trainable = ray_tune.with_parameters(run_trial, spec=search.spec, data=data)
    if settings.workers_per_trial:  # the trial only drives a trainer; its workers hold the CPUs
        trainable = ray_tune.with_resources(trainable, {"cpu": 0.01})
    else:
        trainable = ray_tune.with_resources(trainable, {"cpu": settings.cpus_per_trial})
    s = settings
    progress(f"{s.search} search over {', '.join(search.param_space)} for {s.model}: "
             f"{s.samples} trials, {s.max_concurrent} at a time, "
             f"{len(data.city_ids)} cities")  # fmt: skip
    run_name = f"tune-{s.model}-{s.search}"
    params = {"tune": s.model_dump(mode="json"), "profile": str(search.profile_path),
              "cities": ",".join(data.city_ids)}  # fmt: skip
    t0 = time.perf_counter()
    with tracking.start_run(run_name, kind="tune", params=params, dataset=data) as parent:
        if resume:
            tuner = ray_tune.Tuner.restore(str(exp_path), trainable=trainable, resume_errored=True)
        else:
            tuner = _new_tuner(search, trainable, exp_path, progress, callbacks)
        results = tuner.fit()
        trials, curves = tr.collect(results, search.spec.space)
        summary = _write(search, trials, curves, out, data.city_ids, time.perf_counter() - t0)
        tr.track(summary, trials, curves, out, parent)
    summary["mlflow_run_id"] = parent.id
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def _new_tuner(
    search: Search, trainable: Any, exp_path: Path, progress: Progress, callbacks: list | None
) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    s = search.settings
    scheduler: Any = FIFOScheduler()
    if s.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="training_iteration", grace_period=s.grace_period,
            reduction_factor=s.reduction_factor,
            max_t=_max_reports(search.spec, search.spec.space) + 1,  # + the final report
        )  # fmt: skip
    return ray_tune.Tuner(
        trainable,
        param_space=search.param_space,
        tune_config=ray_tune.TuneConfig(
            metric=s.metric,
            mode="min",
            search_alg=_searcher(s, search.point),
            scheduler=scheduler,
            num_samples=1 if s.search == "grid" else s.samples,
            max_concurrent_trials=s.max_concurrent,
            time_budget_s=s.time_budget_s,
        ),
        run_config=ray_tune.RunConfig(
            name=EXPERIMENT,
            storage_path=str(exp_path.parent),
            verbose=0,
            callbacks=[_ProgressCallback(progress, s.samples, s.metric), *(callbacks or [])],
        ),
    )


def _write(
    search: Search, trials: Any, curves: Any, out: Path, cities: list[str], wall_s: float
) -> dict[str, Any]:
    """trials.csv, curves.csv and best.yaml (validated by loading it back) → the summary."""
    from energy.config.experiment import load_config

    s = search.settings
    trials.to_csv(out / "trials.csv", index=False)
    curves.to_csv(out / "curves.csv", index=False)
    counts = trials["status"].value_counts().to_dict()
    best = tr.best_trial(trials, s.metric)
    values = {**search.spec.fixed, **tr.params_of(best)}
    header = (f"Tuned by `energy tune` ({s.search}, {len(trials)} trials, {s.model}) from "
              f"{search.profile_path.name}: trial {best['trial_id']}, val_mape "
              f"{best['val_mape']:.3f} %, best_val_loss {best['best_val_loss']:.5g}")  # fmt: skip
    path = tr.write_profile(search.spec.profile, s.model, values, out / "best.yaml", header)
    load_config(path)  # the tuned profile must load as `energy train --config` reads it
    summary = {
        "model": s.model, "search": s.search, "metric": s.metric, "cities": cities,
        "trials": len(trials), "finished": counts.get("finished", 0),
        "stopped": counts.get("stopped", 0), "errors": counts.get("error", 0),
        "unfinished": counts.get("unfinished", 0), "wall_s": round(wall_s, 1),
        "best": {"trial_id": best["trial_id"], "best_val_loss": float(best["best_val_loss"]),
                 "val_mape": float(best["val_mape"]), "params": tr.params_of(best)},
        "best_profile": str(path), "space": list(search.param_space), "notes": search.notes,
    }  # fmt: skip
    return summary
