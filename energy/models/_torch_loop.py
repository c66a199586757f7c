"""A Ray-free training loop for the sequence models: plain functions that Ray Train wraps.

Batches are ``(past, future, target, city)`` as :class:`energy.features.windows.SequenceWindows`
yields them, and a model is called as ``model(past, future, city) -> (batch, horizon)``.

Ray Train later runs :func:`fit_loop` inside ``train_loop_per_worker`` and passes an
``on_epoch_end`` hook that calls ``ray.train.report(metrics, checkpoint=...)`` once per epoch
(never per step: each report costs a controller round trip), building the checkpoint from
``state_dict_fn()``; a restarted worker passes the loaded checkpoint back as ``start_state``.
For data-parallel training the wrapper passes the DDP-wrapped model (states are saved from its
``.module``, so checkpoints load into the bare network) and a per-rank ``seed``: each rank then
draws its own random subset of ``max_train_windows_per_epoch`` windows, and every rank runs the
same number of batches, as DDP's collectives require.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from energy.models.errors import NonFiniteLossError

State = dict[str, Any]
EpochHook = Callable[[int, dict[str, float], Callable[[], State]], None]
LOSSES: dict[str, Callable[[], nn.Module]] = {
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "huber": lambda: nn.HuberLoss(delta=1.0),
}


@dataclass(frozen=True)
class LoopConfig:
    """Optimisation settings of :func:`fit_loop`."""

    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 3  # epochs without a better validation loss before stopping
    min_delta: float = 0.0  # improvement smaller than this does not count
    scheduler: Literal["plateau", "cosine", "none"] = "plateau"
    grad_clip: float | None = 1.0  # max global gradient norm; None: no clipping
    loss: Literal["mse", "l1", "huber"] = "mse"
    max_train_windows_per_epoch: int | None = None  # random subset per epoch; None: all
    seed: int = 0
    num_threads: int = 1
    device: str = "cpu"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_loader(
    windows: Dataset[Any],
    batch_size: int,
    shuffle: bool,
    seed: int,
    sample: int | None = None,
) -> DataLoader[Any]:
    """A single-process DataLoader over ``windows``.

    Args:
        windows: a map-style data set (e.g. ``SequenceWindows``).
        batch_size: windows per batch.
        shuffle: new random order each epoch (from a generator seeded with ``seed``).
        seed: seed of the loader's own generator; the order does not depend on global RNGs.
        sample: draw only this many windows (without replacement) per epoch, a fresh subset
            each epoch; None or ≥ ``len(windows)``: all. Implies ``shuffle``.
    """
    n = len(windows)  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(seed)
    sampler = None
    if sample is not None and sample < n:
        sampler = RandomSampler(windows, num_samples=sample, generator=gen)  # type: ignore[arg-type]
    elif shuffle:
        sampler = RandomSampler(windows, generator=gen)  # type: ignore[arg-type]
    # num_workers=0: windows are views of one array; worker processes would only copy it
    return DataLoader(windows, batch_size=batch_size, sampler=sampler, num_workers=0)


def _to(batch: Any, device: torch.device) -> list[torch.Tensor]:
    return [t.to(device, non_blocking=True) for t in batch]


def train_epoch(
    model: nn.Module,
    loader: DataLoader[Any],
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    device: torch.device | str,
    grad_clip: float | None = None,
) -> float:
    """One pass over ``loader``; returns the mean training loss per window (scaled units)."""
    model.train()
    total, count = 0.0, 0
    for batch in loader:
        past, future, target, city = _to(batch, torch.device(device))
        loss = loss_fn(model(past, future, city), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        total += float(loss.detach()) * len(target)
        count += len(target)
    return total / max(count, 1)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader[Any], loss_fn: nn.Module, device: torch.device | str
) -> float:
    """Mean loss per window over ``loader`` in eval mode (no dropout, no gradients)."""
    model.eval()
    total, count = 0.0, 0
    for batch in loader:
        past, future, target, city = _to(batch, torch.device(device))
        total += float(loss_fn(model(past, future, city), target)) * len(target)
        count += len(target)
    return total / max(count, 1)


def _scheduler(
    optimizer: torch.optim.Optimizer, cfg: LoopConfig
) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None:
    if cfg.scheduler == "plateau":
        patience = max(cfg.patience // 2, 0)
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=patience)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1))
    return None


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def fit_loop(
    model: nn.Module,
    train_windows: Dataset[Any],
    val_windows: Dataset[Any] | None,
    cfg: LoopConfig,
    *,
    on_epoch_end: EpochHook | None = None,
    start_state: State | None = None,
    reduce_mean: Callable[[float], float] | None = None,
) -> State:
    """Train ``model`` in place with early stopping on the validation loss.

    Args:
        model: called as ``model(past, future, city) -> (batch, horizon)``.
        train_windows: training windows.
        val_windows: validation windows (later hours or other cities); None or empty: the
            training loss drives early stopping and the scheduler.
        cfg: optimisation settings.
        on_epoch_end: ``hook(epoch, metrics, state_dict_fn)`` after every epoch (1-based);
            ``state_dict_fn()`` returns a resumable state (CPU tensors, deep copies), so a hook
            that checkpoints only some epochs pays only for those.
        start_state: a state from ``state_dict_fn()`` or from this function: training resumes
            after its epoch with its weights, optimiser, scheduler, early-stopping counters and
            RNG states (same results as an uninterrupted run on the same machine).
        reduce_mean: data-parallel training: averages a per-rank loss over the ranks (an
            all-reduce), so that every rank sees the same losses and takes the same early-stopping
            and scheduler decisions; None: a single process.

    Returns:
        The state after the last epoch (resumable; ``model`` = last weights) plus
        ``stopped_early``; the model itself is left holding the *best* validation weights.

    Raises:
        NonFiniteLossError: the training or validation loss of an epoch is NaN or infinite
            (before that epoch is reported or checkpointed).
    """
    torch.set_num_threads(cfg.num_threads)
    seed_everything(cfg.seed)
    device = torch.device(cfg.device)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = _scheduler(optimizer, cfg)
    loss_fn = LOSSES[cfg.loss]()
    train_loader = make_loader(
        train_windows, cfg.batch_size, True, cfg.seed, cfg.max_train_windows_per_epoch
    )
    val_loader = None
    if val_windows is not None and len(val_windows) > 0:  # type: ignore[arg-type]
        val_loader = make_loader(val_windows, cfg.batch_size, False, cfg.seed)
    gen: torch.Generator | None = getattr(train_loader.sampler, "generator", None)
    track: State = {"epoch": 0, "best_loss": math.inf, "best_epoch": 0, "bad_epochs": 0,
                    "history": [], "best_model": None}  # fmt: skip

    net = getattr(model, "module", model)  # DDP wraps the network: save the bare one

    def state_dict_fn() -> State:
        return {
            **copy.deepcopy(track),
            "model": _cpu_copy(net.state_dict()),
            "optimizer": copy.deepcopy(optimizer.state_dict()),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                    "loader": gen.get_state() if gen is not None else None},
        }  # fmt: skip

    if start_state is not None:
        net.load_state_dict(start_state["model"])
        optimizer.load_state_dict(start_state["optimizer"])
        if scheduler is not None and start_state.get("scheduler") is not None:
            scheduler.load_state_dict(start_state["scheduler"])
        track.update(copy.deepcopy({k: start_state[k] for k in track}))
        torch.set_rng_state(start_state["rng"]["torch"])
        if torch.cuda.is_available() and start_state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state_all(start_state["rng"]["cuda"])  # dropout on the GPU
        if gen is not None and start_state["rng"]["loader"] is not None:
            gen.set_state(start_state["rng"]["loader"])

    stopped = track["bad_epochs"] >= cfg.patience > 0
    for epoch in range(track["epoch"] + 1, cfg.epochs + 1):
        if stopped:
            break
        t0 = time.perf_counter()
        train_loss = train_epoch(model, train_loader, optimizer, loss_fn, device, cfg.grad_clip)
        # the bare network: evaluation needs no gradient synchronisation
        val_loss = evaluate(net, val_loader, loss_fn, device) if val_loader else train_loss
        if reduce_mean is not None:
            train_loss = reduce_mean(train_loss)
            val_loss = reduce_mean(val_loss) if val_loader else train_loss
        # NaN weights must never be checkpointed or packaged (every rank sees the same losses)
        for what, value in (("train_loss", train_loss), ("val_loss", val_loss)):
            if not math.isfinite(value):
                raise NonFiniteLossError(type(net).__name__, what, epoch, value)
        lr = optimizer.param_groups[0]["lr"]
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_loss)
        elif scheduler is not None:
            scheduler.step()
        if val_loss < track["best_loss"] - cfg.min_delta:
            track.update(best_loss=val_loss, best_epoch=epoch, bad_epochs=0)
            track["best_model"] = _cpu_copy(net.state_dict())
        else:
            track["bad_epochs"] += 1
        track["epoch"] = epoch
        metrics = {"epoch": float(epoch), "train_loss": train_loss, "val_loss": val_loss,
                   "best_val_loss": track["best_loss"], "lr": lr,
                   "epoch_s": time.perf_counter() - t0}  # fmt: skip
        track["history"].append(metrics)
        if on_epoch_end is not None:
            on_epoch_end(epoch, metrics, state_dict_fn)
        stopped = track["bad_epochs"] >= cfg.patience > 0

    final = state_dict_fn()
    final["stopped_early"] = stopped and track["epoch"] < cfg.epochs
    if track["best_model"] is not None:
        net.load_state_dict(track["best_model"])
    return final
