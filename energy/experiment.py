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
from energy.config import ExperimentConfig
from energy.data.dataset import Dataset, read_dataset
from energy.models import registry
from energy.models.base import Forecaster
from energy.package import write_package

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
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Fit the configured model on all of the data set and save it to ``out/model``."""
    data = load_data(data_dir, cities)
    train_ds, val_ds = split_validation(data, cfg.ensemble.val_days)
    model = build_model(cfg, kind)
    progress(
        f"training {kind} ({cfg.scope}) on {len(train_ds.load):,} rows, "
        f"{len(data.city_ids)} cities; validation {len(val_ds.load):,} rows"
    )
    t0 = time.perf_counter()
    model.fit(train_ds, val_ds)
    fit_s = time.perf_counter() - t0
    out = Path(out)
    write_package(
        model, data, out, meta={"config_name": cfg.name, "config": cfg.model_dump(mode="json")}
    )
    summary = {
        "config": cfg.model_dump(mode="json"),
        "kind": kind,
        "cities": data.city_ids,
        "data": str(data_dir),
        "data_hash": data.manifest.get("content_hash"),
        "train_end": str(train_ds.load[schema.TIME].max()),
        "fit_s": round(fit_s, 2),
    }
    (out / "train.json").write_text(json.dumps(summary, indent=2) + "\n")
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
    from energy import evaluation, reporting

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
        reporting.write_backtest(result, Path(out) if k == kind else Path(out) / "baselines" / k)
    table = reporting.compare(results, members=True)
    (Path(out) / "compare.txt").write_text(table.to_string() + "\n")
    progress(f"wrote {out}")
    return {"compare": table, "results": results}
