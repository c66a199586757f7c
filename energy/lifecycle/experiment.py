"""Entry points behind ``energy train`` and ``energy backtest``: plain functions that tests call.

config (YAML → :class:`~energy.config.ExperimentConfig`) → data set (``--data DIR``) → the model the
config describes (the ensemble, global or one per city) → fit / backtest → files under ``--out``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from energy import schema
from energy.config.experiment import ExperimentConfig
from energy.data.dataset import Dataset, read_dataset
from energy.forecast.package import write_package
from energy.models import kinds as registry
from energy.models.base import Forecaster

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def build_model(cfg: ExperimentConfig, kind: str = "ensemble") -> Forecaster:
    """The forecaster a config describes: the ensemble (default), one member, or a baseline;
    wrapped in a per-city model when ``scope`` is ``per_city``."""
    if kind == "ensemble":
        config = cfg.ensemble_config()
    elif kind in cfg.models:
        config = cfg.member_configs()[kind]
    elif kind in cfg.baselines:
        config = cfg.baseline_configs()[kind]
    else:
        known = ["ensemble", *cfg.models, *cfg.baselines]
        raise ValueError(f"--model: {kind!r} is not in this config (have: {', '.join(known)})")
    if cfg.scope == "per_city":
        return registry.create("per_city", {"model": {"kind": kind, "config": config}})
    return registry.create(kind, config)


def load_data(path: str | Path, cities: list[str] | None) -> Dataset:
    """Read a data set (hash verified) restricted to ``cities`` (all when None)."""
    return read_dataset(path, verify=True).select(cities)


def split_validation(data: Dataset, val_days: int) -> tuple[Dataset, Dataset]:
    """Last ``val_days`` days (UTC) as validation for early stopping; the rest as train."""
    end = data.load[schema.TIME].max() + pd.Timedelta(hours=1)
    cut = end - pd.Timedelta(days=val_days)
    is_val = data.load[schema.TIME] >= cut

    def part(mask: pd.Series) -> Dataset:
        return Dataset(
            load=data.load[mask].reset_index(drop=True),
            cities=data.cities,
            events=data.events,
            manifest=data.manifest,
        )

    return part(~is_val), part(is_val)


def train(
    cfg: ExperimentConfig,
    data_dir: str | Path,
    out: str | Path,
    *,
    cities: list[str] | None = None,
    kind: str = "ensemble",
    evaluate: bool = True,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Fit the configured model and save it as a model package under ``out``.

    With ``evaluate`` (default) the model is fitted on the rows before the promotion protocol
    (the last ``promotion.windows_days`` days of day-ahead origins,
    :mod:`energy.lifecycle.promotion`) and
    scored on it: metrics in package.json and ``out/backtest/``; ``promotion.refit`` then refits
    on all rows. Without, it is fitted on all rows. Tracked as an MLflow ``train`` run (params,
    data, metrics, artifacts, the package as a pyfunc model) unless tracking is off.
    """
    from energy import tracking
    from energy.evaluation import reporting
    from energy.lifecycle import promotion

    data = load_data(data_dir, cities)
    protocol = promotion.protocol_for(data, cfg) if evaluate else None
    fit_data = promotion.before(data, protocol) if protocol is not None else data
    out = Path(out)
    params = cfg.model_dump(mode="json")
    with tracking.start_run(
        f"train {cfg.name}", kind="train", params=params, tags={"model": kind}, dataset=data_dir
    ) as run:
        train_ds, val_ds = split_validation(fit_data, cfg.ensemble.val_days)
        model = build_model(cfg, kind)
        progress(
            f"training {kind} ({cfg.scope}) on {len(train_ds.load):,} rows, "
            f"{len(data.city_ids)} cities; validation {len(val_ds.load):,} rows"
        )
        t0 = time.perf_counter()
        model.fit(train_ds, val_ds)
        fit_s = time.perf_counter() - t0
        meta: dict[str, Any] = {"config_name": cfg.name, "config": params, "train_kind": kind}
        if protocol is not None:
            progress(f"scoring on the protocol: origins {protocol.start} → {protocol.end}")
            result = promotion.score(model, cfg, data, protocol, name=kind, progress=progress)
            meta |= {"metrics": promotion.summarize(result), "protocol": protocol.as_dict()}
            reporting.write_backtest(result, out / "backtest")
            run.log_metrics(promotion.flat_metrics(meta["metrics"]))
            run.log_artifacts(out / "backtest", "backtest")
            if cfg.promotion.refit:
                progress(f"refitting {kind} on all rows (promotion.refit)")
                model = build_model(cfg, kind).fit(*split_validation(data, cfg.ensemble.val_days))
        write_package(model, data, out, meta=meta)
        summary = {
            "config": params,
            "kind": kind,
            "cities": data.city_ids,
            "data": str(data_dir),
            "data_hash": data.manifest.get("content_hash"),
            "train_end": str(getattr(model, "train_end_", train_ds.load[schema.TIME].max())),
            "fit_s": round(fit_s, 2),
            "metrics": meta.get("metrics", {}).get("overall", {}),
            "run_id": run.id,
        }
        (out / "train.json").write_text(json.dumps(summary, indent=2) + "\n")
        run.log_metrics({"fit_s": fit_s})
        summary["model_uri"] = tracking.log_package(run.id, out) if run.id else None
    progress(f"trained in {fit_s:.1f} s; saved to {out / 'model'}")
    return summary


def backtest(
    cfg: ExperimentConfig,
    data_dir: str | Path,
    out: str | Path,
    *,
    start: str,
    end: str,
    cities: list[str] | None = None,
    kind: str = "ensemble",
    with_baselines: bool = True,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Day-ahead rolling-origin backtest of the configured model (and the baselines) over
    ``[start, end)`` (local dates of each city); files written under ``out``."""
    from energy import tracking
    from energy.evaluation import reporting
    from energy.evaluation import schemes as evaluation
    from energy.lifecycle import promotion

    parsed = {}
    for flag, value in (("--start", start), ("--end", end)):
        try:
            parsed[flag] = pd.Timestamp(value)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{flag}: cannot read {value!r} as a date (use YYYY-MM-DD)") from e
    if parsed["--end"] <= parsed["--start"]:
        raise ValueError(f"--end: {end!r} is not after --start {start!r}")
    data = load_data(data_dir, cities)
    kinds = [kind, *(cfg.baselines if with_baselines and kind == "ensemble" else [])]
    results = {}
    params = cfg.model_dump(mode="json") | {"backtest": {"start": start, "end": end}}
    with tracking.start_run(
        f"backtest {cfg.name}", kind="backtest", params=params, tags={"model": kind},
        dataset=data_dir,
    ) as run:  # fmt: skip
        for k in kinds:
            progress(f"backtest {k}: {start} → {end}")
            result = evaluation.backtest(
                build_model(cfg, k),
                data,
                start=start,
                end=end,
                horizon=cfg.horizon,
                val_days=cfg.ensemble.val_days,
                name=k,
                progress=progress,
            )
            results[k] = result
            where = Path(out) if k == kind else Path(out) / "baselines" / k
            reporting.write_backtest(result, where)
            flat = promotion.flat_metrics(promotion.summarize(result))
            run.log_metrics({tracking.metric_key(k, key): v for key, v in flat.items()})
        table = reporting.compare(results, members=True)
        (Path(out) / "compare.txt").write_text(table.to_string() + "\n")
        run.log_artifacts(out)
    progress(f"wrote {out}")
    return {"compare": table, "results": results}
