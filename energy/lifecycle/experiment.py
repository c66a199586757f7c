"""The model a config describes, the data it runs on, and ``energy backtest``.

config (:class:`~energy.config.experiment.ExperimentConfig`) → data set (``--data DIR``, or a
:class:`Dataset` in memory) → the model the config describes (the ensemble, global or one per
city) → backtest → files under ``--out``. Training is :mod:`energy.lifecycle.pipeline`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from energy import schema
from energy.config.experiment import ExperimentConfig
from energy.data import splits
from energy.data.dataset import Dataset, read_dataset
from energy.models.base import Forecaster

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def build_model(cfg: ExperimentConfig, kind: str = "ensemble") -> Forecaster:
    """The forecaster a config describes: the ensemble (default), one member (by its name in
    ``models``, whatever its kind), or a baseline; per-city when ``scope`` is ``per_city``."""
    return cfg.model_spec(kind).build()


def load_data(data: str | os.PathLike[str] | Dataset, cities: list[str] | None) -> Dataset:
    """A data set restricted to ``cities`` (all when None): read from its directory (hash
    verified), or selected from one already in memory."""
    ds = data if isinstance(data, Dataset) else read_dataset(data, verify=True)
    return ds.select(cities)


def split_validation(data: Dataset, val_days: int) -> tuple[Dataset, Dataset]:
    """Last ``val_days`` days (UTC) as validation for early stopping; the rest as train."""
    end = data.load[schema.TIME].max() + pd.Timedelta(hours=1)
    cut = end - pd.Timedelta(days=val_days)
    is_val = data.load[schema.TIME] >= cut

    return splits.subset(data, ~is_val), splits.subset(data, is_val)


def backtest(
    cfg: ExperimentConfig,
    data_dir: str | Path,
    out: str | Path,
    *,
    start: str | None = None,
    end: str | None = None,
    cities: list[str] | None = None,
    kind: str = "ensemble",
    with_baselines: bool = True,
    scheme: str = "rolling",
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Backtest the configured model (and the baselines); files written under ``out``.

    Args:
        scheme: ``rolling`` (default): day-ahead origins over ``[start, end)`` (local dates of
            each city), fitted once before ``start`` and tracked as a ``backtest`` run;
            ``kfold``, ``out-of-time``, ``citywise``: refit per fold, with the settings of the
            config's ``backtest`` section (``start``/``end`` optional, UTC).

    Returns:
        ``{"compare": table of overall metrics, "results": name → BacktestResult}``.
    """
    from energy import tracking
    from energy.evaluation import reporting
    from energy.evaluation import schemes as evaluation
    from energy.evaluation.runner import backtest_models, check_scheme
    from energy.lifecycle import promotion

    check_scheme(scheme, start, end)  # before the data is read
    kinds = [kind, *(cfg.baselines if with_baselines and kind == "ensemble" else [])]
    if scheme != "rolling":
        return backtest_models(
            {k: partial(build_model, cfg, k) for k in kinds}, load_data(data_dir, cities), out,
            scheme, start=start, end=end, settings=cfg.backtest, horizon=cfg.horizon,
            val_days=cfg.ensemble.val_days, seed=cfg.seed, progress=progress,
        )  # fmt: skip
    assert start is not None and end is not None  # check_scheme: rolling needs both
    parsed = {}
    for flag, value in (("--start", start), ("--end", end)):
        try:
            parsed[flag] = pd.Timestamp(value)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{flag}: cannot read {value!r} as a date (use YYYY-MM-DD)") from e
    if parsed["--end"] <= parsed["--start"]:
        raise ValueError(f"--end: {end!r} is not after --start {start!r}")
    data = load_data(data_dir, cities)
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
