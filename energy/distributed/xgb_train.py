"""Sharded XGBoost on Ray Train: ``XGBoostTrainer`` with a ``train_loop_per_worker`` over Ray Data.

(xgboost-ray is not used: its last release crashes with xgboost ≥ 2.1; see README "Install".)

The model says what to train (:class:`~energy.models.xgb.BoostJob`: booster parameters and each
step group's rows, built in the driver exactly as for an in-process fit); the driver hands the
rows to Ray Data as ``train_<end>`` and ``val_<end>`` data sets, which Ray Train splits into one
equal shard per worker. Every worker runs the same :func:`~energy.models.xgb.train_booster` as
an in-process fit, inside the XGBoost collective that ``XGBoostTrainer`` sets up: quantiles,
histograms and the validation metric are global, so the workers grow the same trees and
early-stop at the same round. One run trains every step group (one start-up cost) and reports
once, at the end, with the boosters as the checkpoint (never per round: each report is a
controller round trip).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray
import ray.data
import xgboost as xgb
from ray.train import Checkpoint, ScalingConfig
from ray.train.xgboost import XGBoostTrainer

from energy.distributed.settings import RaySettings
from energy.distributed.torch_train import log_to_stderr, run_config
from energy.models.xgb import BoostJob, BoostRows, train_booster

log = logging.getLogger(__name__)
LABEL = "__label__"


def fit_boosters(job: BoostJob, settings: RaySettings, *, name: str) -> list[xgb.Booster]:
    """Every step group's booster, trained by ``settings.num_workers`` sharded workers.

    Returns:
        One booster per group of ``job``, in group order.
    """
    n = settings.num_workers
    groups = []
    datasets: dict[str, Any] = {}
    for end, rows in job.groups():
        if len(rows.y) < n:
            raise ValueError(f"num_workers: {n} workers but only {len(rows.y)} training rows")
        datasets[f"train_{end}"] = _to_ray(rows.x, rows.y, n)
        has_val = rows.xv is not None and rows.yv is not None and len(rows.yv) >= n
        if rows.xv is not None and rows.yv is not None and has_val:
            datasets[f"val_{end}"] = _to_ray(rows.xv, rows.yv, n)
        groups.append({"end": end, "names": rows.feature_names, "has_val": has_val})
    # threads per worker follow the CPUs it reserved, not the in-process n_jobs
    bp = dataclasses.replace(job.params, nthread=max(1, int(settings.cpus_per_worker)))
    trainer = XGBoostTrainer(
        boost_loop,
        train_loop_config={"groups": groups, "params": bp},
        scaling_config=ScalingConfig(
            num_workers=n, resources_per_worker={"CPU": settings.cpus_per_worker}
        ),
        run_config=run_config(settings, name),
        datasets=datasets,
    )
    ends = job.group_ends
    log.info("xgboost: Ray Train run %r, %d worker(s), %d step group(s)", name, n, len(ends))
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"xgboost: Ray Train run {name!r} reported no checkpoint")
    with result.checkpoint.as_directory() as d:
        boosters = [xgb.Booster(model_file=Path(d) / booster_file(end)) for end in ends]
    for b in boosters:
        b.set_param({"nthread": job.params.nthread})  # back to the model's own thread count
    return boosters


def booster_file(end: int) -> str:
    return f"xgb_h{end:03d}.ubj"  # one file per group in the run's checkpoint


def boost_loop(config: dict[str, Any]) -> None:
    """``train_loop_per_worker``: :func:`train_booster` on this worker's shards, per group."""
    import ray.train

    rank = ray.train.get_context().get_world_rank()
    if rank == 0:
        log_to_stderr()
    boosters = {}
    for g in config["groups"]:
        end = g["end"]
        x, y = _shard(f"train_{end}")
        xv, yv = _shard(f"val_{end}") if g["has_val"] else (None, None)
        rows = BoostRows(x, y, xv, yv, g["names"])
        boosters[end] = train_booster(config["params"], rows)
        if rank == 0:
            log.info("xgboost: group ending at step %d: %d trees (%d rows on rank 0)",
                     end, boosters[end].num_boosted_rounds(), len(y))  # fmt: skip
    metrics = {f"trees_h{end:03d}": b.num_boosted_rounds() for end, b in boosters.items()}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = None
        if rank == 0:
            for end, b in boosters.items():
                b.save_model(Path(tmp) / booster_file(end))
            checkpoint = Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=checkpoint)  # once per run, every rank


def _to_ray(x: np.ndarray, y: np.ndarray, n_workers: int) -> ray.data.Dataset:
    """Rows as a Ray Dataset in a few blocks per worker (float32 feature columns + label)."""
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    df[LABEL] = y
    n_blocks = max(1, min(len(df), 4 * n_workers))
    bounds = np.linspace(0, len(df), n_blocks + 1).astype(int)
    # the bar redraws every second for the whole fit, drowning the per-model progress lines
    ray.data.DataContext.get_current().enable_progress_bars = False
    return ray.data.from_pandas([df.iloc[a:b] for a, b in itertools.pairwise(bounds)])


def _shard(name: str) -> tuple[np.ndarray, np.ndarray]:
    import ray.train

    df = ray.train.get_dataset_shard(name).materialize().to_pandas()
    y = df.pop(LABEL).to_numpy(np.float32)
    return df.to_numpy(np.float32), y
