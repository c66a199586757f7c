"""The training pipeline: one function from a config and a data set to a promoted model.

:func:`train_and_register` is what ``energy train``, ``python -m jobs.train`` and the retraining
scheduler run::

    data (read once, hash verified) → protocol (the last ``promotion.windows_days`` days of
    day-ahead origins) → fit on the rows before it (features are fitted inside the model, on its
    training rows only), through the training backend → backtest on the protocol → refit
    (``promotion.refit``) → model package under ``out`` → tracking run (params, data, metrics,
    backtest files, the package as a pyfunc model) → new registry version (alias
    ``challenger``) → promotion gate → ``champion`` alias moved when it passes

Metrics and the protocol travel as values in a :class:`TrainResult`, from the backtest to the
gate; registry tags are written for later readers (``energy registry``, other gates), not read
back. MLflow is reached only through :mod:`energy.tracking`, and Ray only through the
``backend`` a caller passes (:mod:`energy.distributed.backend`): nothing here imports either.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from energy import schema, tracking
from energy.forecast.package_io import write_package
from energy.lifecycle import champion, promotion
from energy.lifecycle.experiment import build_model, load_data, split_validation
from energy.models.backend import use_backend

if TYPE_CHECKING:
    from energy.config.experiment import ExperimentConfig
    from energy.data.dataset import Dataset
    from energy.models.backend import TrainingBackend
    from energy.models.base import Forecaster

Progress = Callable[[str], None]
TRAIN_FILE = "train.json"
TRACK_ATTEMPTS = 3  # tracking tries after the package is saved
TRACK_WAIT_S = 2.0  # first wait between them (doubling)


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced.

    Attributes:
        config: the experiment config it ran with.
        kind: the model kind trained (``ensemble``, a member kind or a baseline).
        cities: city ids it was trained on.
        package_dir: the model package (the forecaster under ``package_dir / "model"``).
        data: where the data came from (its directory, or the manifest's source path).
        data_hash: content hash of the data set.
        train_end: last training hour of the saved model (UTC).
        fit_s: seconds spent in the first fit.
        metrics: ``{"overall": {m: v}, "per_city": {city: {m: v}}, "members": {k: {m: v}}}`` on
            the protocol (MAPE in %, MAE and RMSE in MW); empty when not evaluated.
        protocol: the day-ahead origins scored; None when not evaluated.
        run_id: the MLflow ``train`` run; None when not tracked.
        model_uri: the package logged as a pyfunc model; None when not tracked.
        version: the registered version (alias ``challenger``); None when not registered.
        decision: the promotion gate's verdict; None when not registered.
    """

    config: ExperimentConfig
    kind: str
    cities: list[str]
    package_dir: Path
    data: str
    data_hash: str | None
    train_end: str
    fit_s: float
    metrics: dict[str, Any] = field(default_factory=dict)
    protocol: promotion.Protocol | None = None
    run_id: str | None = None
    model_uri: str | None = None
    version: str | None = None
    decision: promotion.Decision | None = None

    @property
    def promoted(self) -> bool:
        """Whether this run's version became the champion."""
        return self.decision is not None and self.decision.promote

    def describe(self) -> str:
        """What happened, for people: one line for training, one for the registry."""
        lines = [
            f"trained {self.kind} on {len(self.cities)} cities in {round(self.fit_s, 2)} s → "
            f"{self.package_dir / 'model'}"
        ]
        if self.decision is not None:
            verdict = "promoted to champion" if self.decision.promote else "not promoted"
            lines.append(
                f"registered {self.config.promotion.registered_model} v{self.version}: "
                f"{verdict} ({self.decision.reason})"
            )
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        """The run as ``train.json`` records it (overall metrics only)."""
        return {
            "config": self.config.model_dump(mode="json"),
            "kind": self.kind,
            "cities": self.cities,
            "data": self.data,
            "data_hash": self.data_hash,
            "train_end": self.train_end,
            "fit_s": round(self.fit_s, 2),
            "metrics": self.metrics.get("overall", {}),
            "run_id": self.run_id,
        }


def train_and_register(
    cfg: ExperimentConfig,
    data: str | os.PathLike[str] | Dataset,
    out: str | os.PathLike[str],
    *,
    cities: list[str] | None = None,
    kind: str = "ensemble",
    evaluate: bool = True,
    register: bool = True,
    track: bool = True,
    backend: TrainingBackend | None = None,
    progress: Progress = _quiet,
) -> TrainResult:
    """Train the model ``cfg`` describes, save it under ``out``, track, register and gate it.

    Args:
        cfg: the parsed experiment config (``energy.config.experiment.load_config``).
        data: a data set directory (read once, hash verified) or a :class:`Dataset` in memory.
        out: output directory: the model package, ``train.json`` and ``backtest/``.
        cities: city ids to train on (None: all of the data set).
        kind: ``ensemble`` (default), one member kind or a baseline of ``cfg``.
        evaluate: fit before the promotion protocol and score on it (else fit on all rows: no
            metrics, and the gate rejects the version).
        register: register a new version of ``cfg.promotion.registered_model`` and run the
            gate (needs tracking; skipped with a message when tracking is off).
        track: log an MLflow ``train`` run (``ENERGY_TRACKING=0`` also turns it off).
        backend: where the heavy fits run (e.g. ``energy.distributed.backend.RayBackend``);
            None: the backend already installed by the caller, else in this process.
        progress: receives one line per step.

    Returns:
        A :class:`TrainResult`; its ``summary()`` is also written to ``out/train.json``.
    """
    out = Path(out)
    ds = load_data(data, cities)
    # where the data came from: its directory (the run logs its path and manifest), else memory
    source = data if isinstance(data, (str, os.PathLike)) else None
    tracked = track and tracking.enabled()
    with _using(backend):
        result = _train(cfg, ds, source, out, kind, evaluate, tracked, progress)
        if not register:
            return result
        if not tracked:
            progress("tracking is off: not registering (use --no-register to say so)")
            return result
        return _register_and_gate(result, ds, progress)


def _train(
    cfg: ExperimentConfig,
    ds: Dataset,
    source: str | os.PathLike[str] | None,
    out: Path,
    kind: str,
    evaluate: bool,
    tracked: bool,
    progress: Progress,
) -> TrainResult:
    """Fit → backtest on the protocol → (refit) → package → tracking run; not registered.
    ``source``: the data set's directory; None: ``ds`` came from memory.

    The package and ``train.json`` are written before the first tracking call, so an MLflow
    outage never loses a trained model: tracking is retried (:func:`_track`), and when it still
    fails the error says how to track and register the saved package later
    (``energy registry register OUT``)."""
    protocol = promotion.protocol_for(ds, cfg) if evaluate else None
    fit_data = promotion.before(ds, protocol) if protocol is not None else ds
    params = cfg.model_dump(mode="json")
    model, fit_s, fit_end = _fit(cfg, kind, fit_data, progress)
    meta: dict[str, Any] = {"config_name": cfg.name, "config": params, "train_kind": kind}
    metrics: dict[str, Any] = {}
    if protocol is not None:
        metrics = _backtest(model, cfg, ds, protocol, kind, out / "backtest", progress)
        meta |= {"metrics": metrics, "protocol": protocol.as_dict()}
        if cfg.promotion.refit:
            progress(f"refitting {kind} on all rows (promotion.refit)")
            model = build_model(cfg, kind).fit(*split_validation(ds, cfg.ensemble.val_days))
    write_package(model, ds, out, meta=meta)
    result = TrainResult(
        config=cfg,
        kind=kind,
        cities=ds.city_ids,
        package_dir=out,
        data=str(ds.manifest.get("source", {}).get("path", "memory") if source is None else source),
        data_hash=ds.manifest.get("content_hash"),
        train_end=str(getattr(model, "train_end_", fit_end)),
        fit_s=fit_s,
        metrics=metrics,
        protocol=protocol,
    )
    (out / TRAIN_FILE).write_text(json.dumps(result.summary(), indent=2) + "\n")
    progress(f"trained in {fit_s:.1f} s; saved to {out / 'model'}")
    if not tracked:
        return result
    return _track(result, ds if source is None else source, progress)


def _track(result: TrainResult, dataset: Any, progress: Progress) -> TrainResult:
    """Log the saved package's ``train`` run (params, data, metrics, backtest files, the package
    as a pyfunc model), retried ``TRACK_ATTEMPTS`` times with a doubling wait.

    Raises:
        TrackingError: tracking still failed; the message names the saved package and the
            ``energy registry register`` command that tracks and registers it later.
    """
    wait, error = TRACK_WAIT_S, None
    for attempt in range(1, TRACK_ATTEMPTS + 1):
        try:
            return _track_once(result, dataset)
        except Exception as e:  # an outage (connection refused, 5xx, timeouts): try again
            error = e
            if attempt < TRACK_ATTEMPTS:
                first = (str(e).splitlines() or [""])[0][:200]
                progress(f"tracking failed ({type(e).__name__}: {first}); retry in {wait:.0f} s")
                time.sleep(wait)  # back off: the tracking server is down, not a test wait
                wait *= 2
    raise tracking.TrackingError(
        f"tracking failed {TRACK_ATTEMPTS} times ({type(error).__name__}: "
        f"{(str(error).splitlines() or [''])[0][:200]}); the trained model is saved in "
        f"{str(result.package_dir)!r}: track and register it later with "
        f"`energy registry register {result.package_dir}`"
    ) from error


def _track_once(result: TrainResult, dataset: Any) -> TrainResult:
    params = result.config.model_dump(mode="json")
    with tracking.start_run(f"train {result.config.name}", kind="train", params=params,
                            tags={"model": result.kind}, dataset=dataset) as run:  # fmt: skip
        if result.metrics:
            run.log_metrics(promotion.flat_metrics(result.metrics))
        backtest = result.package_dir / "backtest"
        if backtest.is_dir():
            run.log_artifacts(backtest, "backtest")
        run.log_metrics({"fit_s": result.fit_s})
        model_uri = tracking.log_package(run.id, result.package_dir) if run.id else None
    tracked = replace(result, run_id=run.id, model_uri=model_uri)
    (result.package_dir / TRAIN_FILE).write_text(json.dumps(tracked.summary(), indent=2) + "\n")
    return tracked


def register_saved(
    package_dir: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | None = None,
    progress: Progress = _quiet,
) -> TrainResult:
    """Track, register and gate a package saved by :func:`train_and_register` whose tracking
    failed (``energy registry register PACKAGE``).

    Args:
        package_dir: the training run's ``out`` (the package, ``train.json``, ``backtest/``).
        data: the data set, for re-evaluating a champion scored on another protocol (optional).
        progress: receives one line per step.

    Raises:
        ModelUnavailableError: not a complete, unmodified package.
        TrackingError: tracking failed again.
    """
    from energy.config.experiment import ExperimentConfig
    from energy.forecast.package_io import verify_package

    p = Path(package_dir)
    meta = verify_package(p)  # the sha256 manifest: register only what training wrote
    train = p / TRAIN_FILE
    summary = json.loads(train.read_text()) if train.is_file() else {}
    d = meta.get("protocol") or {}
    protocol = (
        promotion.Protocol(d["data_hash"], tuple(d["cities"]), d["start"], d["end"],
                           int(d["horizon"])) if d else None
    )  # fmt: skip
    result = TrainResult(
        config=ExperimentConfig.model_validate(meta["config"]),
        kind=str(meta.get("train_kind", meta.get("kind", "ensemble"))),
        cities=list(meta.get("cities", [])),
        package_dir=p,
        data=str(summary.get("data", data or "")),
        data_hash=meta.get("data_hash"),
        train_end=str(meta.get("train_end")),
        fit_s=float(summary.get("fit_s", 0.0)),
        metrics=meta.get("metrics") or {},
        protocol=protocol,
    )
    if not tracking.enabled():
        raise tracking.TrackingError("tracking is off (ENERGY_TRACKING=0): nothing to register")
    result = _track(result, data, progress)
    ds = load_data(data, result.cities) if data is not None else None
    return _register_and_gate(result, ds, progress)


def _fit(
    cfg: ExperimentConfig, kind: str, data: Dataset, progress: Progress
) -> tuple[Forecaster, float, Any]:
    """A new ``kind`` model fitted on ``data``, its last ``ensemble.val_days`` days validating:
    (model, seconds, last training hour)."""
    train_ds, val_ds = split_validation(data, cfg.ensemble.val_days)
    model = build_model(cfg, kind)
    progress(
        f"training {kind} ({cfg.scope}) on {len(train_ds.load):,} rows, "
        f"{len(data.city_ids)} cities; validation {len(val_ds.load):,} rows"
    )
    t0 = time.perf_counter()
    model.fit(train_ds, val_ds)
    return model, time.perf_counter() - t0, train_ds.load[schema.TIME].max()


def _backtest(
    model: Forecaster,
    cfg: ExperimentConfig,
    ds: Dataset,
    protocol: promotion.Protocol,
    kind: str,
    where: Path,
    progress: Progress,
) -> dict[str, Any]:
    """Score the fitted ``model`` on the protocol's origins: files under ``where`` (tracked
    later, with the package); returns :func:`~energy.lifecycle.promotion.summarize`'s metrics."""
    from energy.evaluation import reporting

    progress(f"scoring on the protocol: origins {protocol.start} → {protocol.end}")
    scored = promotion.score(model, cfg, ds, protocol, name=kind, progress=progress)
    metrics = promotion.summarize(scored)
    reporting.write_backtest(scored, where)
    return metrics


def _register_and_gate(result: TrainResult, ds: Dataset | None, progress: Progress) -> TrainResult:
    """A new version (alias ``challenger``) tagged from the run's values, then the gate."""
    settings = result.config.promotion
    meta = {
        "config_name": result.config.name,
        "train_kind": result.kind,
        "data_hash": result.data_hash,
        "metrics": result.metrics,
        "protocol": result.protocol.as_dict() if result.protocol is not None else {},
    }
    version = champion.register(
        result.package_dir,
        settings.registered_model,
        model_uri=result.model_uri,
        tags=promotion.version_tags(meta),
        progress=progress,
    )
    decision = champion.gate(
        settings.registered_model,
        version,
        settings,
        data=ds,
        metrics=result.metrics or None,
        protocol=result.protocol,
        progress=progress,
    )
    return replace(result, version=version, decision=decision)


def save_partial(models: Mapping[str, Forecaster], out: str | os.PathLike[str]) -> Path:
    """Save the per-city models that trained before a fan-out failed, under ``out/partial``."""
    where = Path(out) / "partial"
    for city, m in models.items():
        m.save(where / city)
    return where


@contextmanager
def _using(backend: TrainingBackend | None) -> Iterator[None]:
    """Route fits to ``backend``; None keeps the one the caller installed (or in-process)."""
    with use_backend(backend) if backend is not None else nullcontext():
        yield
