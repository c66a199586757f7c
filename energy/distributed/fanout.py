"""City fan-out: one model per city, trained as Ray tasks across the cluster.

Cities are packed several to a task (``cities_per_task``) once they outnumber the slots. The
first task in a worker pays for the process and its imports (seconds, once per worker); every
later task costs little (about 3 ms amortised on 2 CPUs with a one-city argument,
bench/training.py), so packing matters for hundreds of cities mostly through the driver's work per
task (selecting and shipping its rows) and keeps about four tasks per slot for balance. Each
task is a streaming generator that yields one :class:`CityResult` per city as it finishes, so the
driver shows live progress (cities done / total, ETA, failures) whatever the packing, and a city
that raises is recorded with its error while the rest of its pack goes on. Every city is fit by
:func:`energy.models.per_city.fit_city`, the in-process unit of work.

Resources: ``cpus_per_task`` (fractional is fine) and ``gpus_per_task`` per task, at most
``max_concurrency`` tasks in flight, spread over the nodes by default.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import ray

from energy.data.dataset import Dataset
from energy.distributed.settings import RaySettings
from energy.models.base import Forecaster
from energy.models.per_city import fit_city
from energy.models.spec import ModelSpec

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass
class CityResult:
    """One city's outcome, with where and how it ran."""

    city: str
    model: Forecaster | None  # None when it failed
    error: str = ""  # "ExceptionType: message"; empty when it succeeded
    traceback: str = ""
    fit_s: float = 0.0
    node_id: str = ""
    host: str = ""
    pid: int = 0
    peak_rss_mb: float = 0.0  # the worker process's peak resident memory so far

    @property
    def ok(self) -> bool:
        return self.model is not None


@dataclass
class FanoutResult:
    """Every requested city's :class:`CityResult` (in city order) and the run's shape."""

    results: list[CityResult]
    wall_s: float
    cities_per_task: int
    n_tasks: int
    slots: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def models(self) -> dict[str, Forecaster]:
        return {r.city: r.model for r in self.results if r.model is not None}

    @property
    def failures(self) -> dict[str, str]:
        return {r.city: r.error for r in self.results if not r.ok}

    def table(self) -> pd.DataFrame:
        """One row per city: status, fit seconds, node, host, pid, peak RSS, error."""
        return pd.DataFrame(
            {
                "city_id": [r.city for r in self.results],
                "status": ["ok" if r.ok else "FAILED" for r in self.results],
                "fit_s": [round(r.fit_s, 2) for r in self.results],
                "node": [r.node_id[:8] for r in self.results],
                "host": [r.host for r in self.results],
                "pid": [r.pid for r in self.results],
                "peak_rss_mb": [round(r.peak_rss_mb, 1) for r in self.results],
                "error": [r.error for r in self.results],
            }
        )


class FanoutError(RuntimeError):
    """Some cities failed; ``result`` keeps every city's outcome, the fitted models included."""

    def __init__(self, result: FanoutResult) -> None:
        self.result = result
        fails = result.failures
        shown = "; ".join(f"{c}: {e}" for c, e in list(fails.items())[:3])
        more = f" (and {len(fails) - 3} more)" if len(fails) > 3 else ""
        super().__init__(
            f"{len(fails)} of {len(result.results)} cities failed to train — {shown}{more}"
        )


def train_cities(
    spec: ModelSpec,
    train: Dataset,
    val: Dataset | None,
    settings: RaySettings,
    *,
    progress: Progress = log.info,
    every_s: float = 10.0,
) -> FanoutResult:
    """Fit ``spec`` once per city of ``train`` (validation rows of the same city, if any).

    Args:
        spec: the per-city model (any kind, e.g. the ensemble).
        train, val: every city's rows; each task receives only its pack's cities.
        settings: task resources, concurrency cap and packing.
        progress: receives progress lines (cities done / total, ETA, failures) and the final table.
        every_s: at most this long between progress lines while nothing finishes.

    Returns:
        Every city's result; failures are recorded, not raised (see :class:`FanoutError`).
    """
    cities = train.city_ids
    slots = task_slots(settings)
    per_task = settings.cities_per_task or auto_cities_per_task(len(cities), slots)
    packs = [cities[i : i + per_task] for i in range(0, len(cities), per_task)]
    cap = min(slots, settings.max_concurrency or slots)
    task = _fit_pack.options(
        num_cpus=settings.cpus_per_task,
        num_gpus=settings.gpus_per_task,
        scheduling_strategy="SPREAD" if settings.spread else "DEFAULT",
        max_retries=max(settings.max_failures, 0),  # node or process loss, not city errors
    )
    progress(
        f"fan-out: {len(cities)} cities of {spec.kind} in {len(packs)} task(s) of ≤{per_task}, "
        f"{settings.cpus_per_task:g} CPU each, ≤{cap} at once"
    )
    val_cities = set(val.city_ids) if val is not None else set()
    t0, last = time.perf_counter(), 0.0
    results: dict[str, CityResult] = {}
    pending = list(packs)
    running: dict[Any, list[str]] = {}  # ObjectRefGenerator → its cities
    while pending or running:
        while pending and len(running) < cap:  # submit lazily: bounded object-store use
            pack = pending.pop(0)
            vpack = [c for c in pack if c in val_cities]
            vds = val.select(vpack) if val is not None and vpack else None
            running[task.remote(spec, train.select(pack), vds, pack)] = pack
        ready: list[Any] = ray.wait(list(running), num_returns=1, timeout=every_s)[0]
        before = len(results)
        for gen in ready:
            pack = running[gen]
            try:
                r: CityResult = ray.get(next(gen))
                results[r.city] = r
            except StopIteration:
                del running[gen]
            except Exception as e:  # the task itself died (worker or node lost, retries spent)
                del running[gen]
                for c in pack:
                    results.setdefault(c, CityResult(c, None, f"{type(e).__name__}: {e}"))
        now = time.perf_counter() - t0
        if len(results) > before or now - last >= every_s:
            progress(_status(len(results), len(cities), results, now))
            last = now
    out = FanoutResult(
        results=[results[c] for c in cities], wall_s=time.perf_counter() - t0,
        cities_per_task=per_task, n_tasks=len(packs), slots=cap,
    )  # fmt: skip
    for line in out.table().to_string(index=False).splitlines():
        progress(line)
    for res in out.results:
        if not res.ok:
            log.error("city %r failed: %s\n%s", res.city, res.error, res.traceback)
    return out


def task_slots(settings: RaySettings) -> int:
    """Tasks the cluster can run at once with ``cpus_per_task`` CPUs (and GPUs) each."""
    res = ray.cluster_resources()
    slots = math.floor(float(res.get("CPU", 1)) / settings.cpus_per_task + 1e-9)
    if settings.gpus_per_task > 0:
        slots = min(slots, math.floor(float(res.get("GPU", 0)) / settings.gpus_per_task + 1e-9))
        if slots < 1:
            raise ValueError(
                f"gpus_per_task: {settings.gpus_per_task:g} GPUs per task, the cluster has "
                f"{res.get('GPU', 0):g}"
            )
    if slots < 1:  # a request larger than the cluster would wait forever
        raise ValueError(
            f"cpus_per_task: {settings.cpus_per_task:g} CPUs per task, the cluster has "
            f"{res.get('CPU', 0):g}"
        )
    return slots


def auto_cities_per_task(n_cities: int, slots: int) -> int:
    """About four tasks per slot: one city per task while cities are few (best balance; a warm
    task costs milliseconds), packs beyond that, which bound the tasks and the per-task rows the
    driver selects and ships for hundreds of cities while keeping the slots evenly loaded."""
    return max(1, math.ceil(n_cities / (4 * max(slots, 1))))


@ray.remote(num_returns="streaming")
def _fit_pack(
    spec: ModelSpec, train: Dataset, val: Dataset | None, cities: list[str]
) -> Iterator[CityResult]:
    """Fit each city of the pack in turn; a city that raises is yielded as a failure."""
    node, host, pid = ray.get_runtime_context().get_node_id(), socket.gethostname(), os.getpid()
    for city in cities:
        t0 = time.perf_counter()
        model, err, tb = None, "", ""
        try:
            model = fit_city(spec, train, val, city)
        except Exception as e:
            err, tb = f"{type(e).__name__}: {e}", traceback.format_exc()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        yield CityResult(city, model, err, tb, time.perf_counter() - t0, node, host, pid, rss)


def _status(done: int, total: int, results: dict[str, CityResult], elapsed: float) -> str:
    failed = sum(not r.ok for r in results.values())
    eta = elapsed / done * (total - done) if done else float("nan")
    eta_s = "?" if math.isnan(eta) else f"{eta:.0f} s"
    return f"cities {done}/{total} done, {failed} failed, {elapsed:.0f} s elapsed, ETA {eta_s}"
