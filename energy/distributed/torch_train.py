"""LSTM / Transformer training on Ray Train: ``TorchTrainer`` around the Ray-free loop.

The model says what to train (:class:`~energy.models._neural.NetJob`: the windows its fit built,
and a recipe that builds the network, logs an epoch and writes a loadable forecaster). The driver
puts the windows' arrays in the object store once and starts ``num_workers`` workers. Each worker
builds the network from the recipe (seeded, so the same initial weights everywhere), wraps it in
DDP (``prepare_model``), takes its shard of the windows (every ``world``-th window from ``rank``,
equal lengths so that every rank runs the same number of batches) and runs
:func:`~energy.models._torch_loop.fit_loop` with:

* ``reduce_mean``: losses averaged over the ranks (an all-reduce), so that early stopping and the
  scheduler take the same decision everywhere;
* ``on_epoch_end``: one ``ray.train.report`` per epoch (never per batch: each report is a controller
  round trip) with a checkpoint from rank 0;
* ``start_state``: the latest checkpoint after a worker failure (``FailureConfig``) or when the
  same run name and storage are used again.

Each checkpoint holds ``loop_state.pt`` (weights, optimiser, scheduler, epoch, early-stopping
counters, RNG states) and ``model/``, a loadable forecaster (config, best weights so far, fitted
feature pipeline): ``Forecaster.load(checkpoint / "model")``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch
from ray.train import Checkpoint, CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from energy.distributed.cluster import has_gpus
from energy.distributed.settings import RaySettings
from energy.features.windows import SequenceWindows
from energy.models._neural import NetJob, NetRecipe
from energy.models._torch_loop import State, fit_loop

log = logging.getLogger(__name__)
STATE_FILE, MODEL_DIR, RNG_FILE = "loop_state.pt", "model", "rng_rank{rank}.pt"


def fit_net(job: NetJob, settings: RaySettings, *, name: str) -> State:
    """Train the job's network with ``settings.num_workers`` Ray Train workers.

    Args:
        job: what the model trains (windows and the network's recipe).
        settings: scaling, failures, storage.
        name: Train run name; an existing run of that name in the storage is resumed.

    Returns:
        The final loop state (``best_model``: the best validation weights), with ``run``: the
        Train run's name, paths, world size and the epoch it resumed from.
    """
    use_gpu = has_gpus() if settings.use_gpu is None else settings.use_gpu
    n = settings.num_workers
    if len(job.train) < n:
        raise ValueError(f"num_workers: {n} workers but only {len(job.train)} training windows")
    resources: dict[str, float] = {"CPU": settings.cpus_per_worker}
    if use_gpu:
        resources["GPU"] = 1.0
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=loop_config(job, use_gpu),
        scaling_config=ScalingConfig(
            num_workers=n, use_gpu=use_gpu, resources_per_worker=resources
        ),
        run_config=run_config(settings, name),
    )
    log.info("%s: Ray Train run %r, %d worker(s)%s", job.kind, name, n, " on GPUs" * use_gpu)
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"{job.kind}: Ray Train run {name!r} reported no checkpoint")
    state = load_state(result.checkpoint)
    metrics = result.metrics or {}
    state["run"] = {  # where and how it ran
        "name": name, "path": str(result.path), "checkpoint": str(result.checkpoint.path),
        "world_size": int(metrics.get("world_size", n)),
        "restored_from_epoch": int(metrics.get("restored_from_epoch", 0)),
    }  # fmt: skip
    return state


def loop_config(job: NetJob, use_gpu: bool) -> dict[str, Any]:
    """``train_loop_config`` of :func:`train_loop`: the recipe, and the windows' arrays in the
    object store (put once, read zero-copy by every worker)."""
    return {
        "recipe": job.recipe,
        "train": ray.put(_arrays(job.train)),
        "val": ray.put(_arrays(job.val)) if job.val is not None else None,
        "use_gpu": use_gpu,
    }


def run_config(settings: RaySettings, name: str) -> RunConfig:
    """Storage, failure handling and checkpoint retention shared by the Train runs."""
    return RunConfig(
        name=name,
        storage_path=settings.storage_path,
        failure_config=FailureConfig(max_failures=settings.max_failures),
        checkpoint_config=CheckpointConfig(num_to_keep=settings.checkpoints_to_keep),
    )


def load_state(checkpoint: Checkpoint, rank: int | None = None) -> State:
    """The loop state saved in a checkpoint of :func:`train_loop`; with ``rank``, that rank's own
    RNG states (sample order, dropout) replace rank 0's, so a resumed run draws what an
    uninterrupted one would."""
    with checkpoint.as_directory() as d:
        state: State = torch.load(Path(d) / STATE_FILE, map_location="cpu", weights_only=True)
        rng = Path(d) / RNG_FILE.format(rank=rank)
        if rank is not None and rng.is_file():
            state["rng"] = torch.load(rng, map_location="cpu", weights_only=True)
    return state


def train_loop(config: dict[str, Any]) -> None:
    """``train_loop_per_worker``: the in-process ``fit_loop`` on this rank's shard, under DDP."""
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    if rank == 0:
        log_to_stderr()
    recipe: NetRecipe = config["recipe"]
    train_w = shard(ray.get(config["train"]), rank, world)
    val_w = shard(ray.get(config["val"]), rank, world) if config["val"] is not None else None
    net = recipe.build()  # seeded: the same initial weights on every rank
    base = recipe.loop
    per_rank = base.max_train_windows_per_epoch
    cfg = dataclasses.replace(
        base,
        seed=base.seed + rank,  # each rank its own sample order and dropout
        max_train_windows_per_epoch=None if per_rank is None else math.ceil(per_rank / world),
        device=str(ray.train.torch.get_device()) if config["use_gpu"] else "cpu",
    )
    ddp = ray.train.torch.prepare_model(net, move_to_device=config["use_gpu"])

    start, restored = None, 0
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        start = load_state(ckpt, rank)
        restored = int(start["epoch"])
        if rank == 0:
            log.info("%s: resuming after epoch %d from %s", recipe.kind, restored, ckpt.path)

    def report(epoch: int, metrics: dict[str, float], state_fn: Any) -> None:
        if rank == 0:
            recipe.log_epoch(epoch, metrics)
        shown = {**metrics, "restored_from_epoch": restored, "world_size": world}
        with tempfile.TemporaryDirectory() as tmp:
            # every rank saves its RNG states (Ray merges the ranks' files into one checkpoint);
            # rank 0 alone the shared state: weights, optimiser, scheduler, counters, model
            state = state_fn()
            torch.save(state["rng"], Path(tmp) / RNG_FILE.format(rank=rank))
            if rank == 0:
                torch.save(state, Path(tmp) / STATE_FILE)
                # the checkpoint's model: the best weights so far
                recipe.save(Path(tmp) / MODEL_DIR, state["best_model"] or state["model"])
            checkpoint = Checkpoint.from_directory(tmp)
            ray.train.report(shown, checkpoint=checkpoint, checkpoint_dir_name=f"epoch_{epoch:04d}")

    fit_loop(
        ddp, train_w, val_w, cfg, on_epoch_end=report, start_state=start,
        reduce_mean=_mean_over_ranks if world > 1 else None,
    )  # fmt: skip


# ---- windows in the object store ------------------------------------------------------------
def _arrays(w: SequenceWindows) -> dict[str, Any]:
    """The windows as plain arrays (zero-copy reads from the object store in workers)."""
    return {
        "data": w.data, "starts": w.starts, "window_city": w.window_city, "hours": w.hours,
        "columns": w.columns, "city_ids": w.city_ids, "lookback": w.lookback,
        "horizon": w.horizon, "n_past_only": w.first_known - 1,
        "known_in_past": w.n_past == w.data.shape[1],
    }  # fmt: skip


def shard(arrays: dict[str, Any], rank: int, world: int) -> SequenceWindows:
    """Rank ``rank``'s windows: every ``world``-th window from ``rank``, cut to equal lengths
    (at most ``world - 1`` windows dropped). Fewer windows than ranks: every rank gets them all
    (validation only; training checks the count first)."""
    starts, city = arrays["starts"], arrays["window_city"]
    per_rank = len(starts) // world
    if per_rank > 0 and world > 1:
        starts, city = starts[rank::world][:per_rank], city[rank::world][:per_rank]
    with warnings.catch_warnings():  # object-store arrays are read-only; training only reads
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return SequenceWindows(
            arrays["data"], n_past_only=arrays["n_past_only"], starts=np.asarray(starts),
            window_city=np.asarray(city), hours=arrays["hours"], columns=arrays["columns"],
            city_ids=arrays["city_ids"], lookback=arrays["lookback"], horizon=arrays["horizon"],
            known_in_past=arrays["known_in_past"],
        )  # fmt: skip


def _mean_over_ranks(value: float) -> float:
    t = torch.tensor([value], dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t.item()) / torch.distributed.get_world_size()


def log_to_stderr() -> None:
    """Worker processes start without the CLI's handler: show the ``energy`` progress lines
    (Ray forwards worker stderr to the driver)."""
    logger = logging.getLogger("energy")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[energy] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # Ray's root handler would print every line a second time
