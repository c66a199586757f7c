"""Batch inference with Ray Data: every city of a model package scored by a pool of actors.

``energy forecast --cities all --start ... --horizon 24 --out forecasts.parquet`` and
``jobs/forecast.py`` call :func:`score_package`. The cities become a Ray Data dataset of city ids;
``map_batches`` sends blocks of ``batch_size`` cities to an actor pool whose actors each load the
package once (:class:`PackageScorer`) and answer a block with one vectorised
:func:`energy.forecast.forecast` call. The driver streams the results into one Parquet file.

Like the rest of ``energy.distributed`` this runs on the connection the entry point made
(:func:`energy.distributed.connect`: ``RAY_ADDRESS``, else a local instance); it never starts Ray.
The package directory must be readable from every node (shared storage on a cluster).

Output rows: ``city_id``, ``timestamp`` (UTC), ``step`` (1-based), ``yhat`` (MW),
``weather_source``; one row per city and hour, ``horizon`` rows per city.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from energy.distributed.cluster import current

OUTPUT_COLUMNS = ("city_id", "timestamp", "step", "yhat", "weather_source")


class PackageScorer:
    """One actor of the pool: loads the package once, then answers blocks of city ids.

    Args:
        package: model package directory (readable on the actor's node).
        start: first forecast hour (UTC), or None: the hour after each city's last stored load.
        horizon: hours per city.
        threads: torch intra-op threads per actor (1: one actor per CPU scales best).
    """

    def __init__(
        self, package: str, start: pd.Timestamp | None, horizon: int, threads: int = 1
    ) -> None:
        import torch

        from energy.forecast import read_package

        torch.set_num_threads(threads)
        self.package = read_package(package)
        self.start, self.horizon = start, horizon

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        """``batch``: a ``city_id`` column → the forecast rows of those cities."""
        from energy.forecast import ForecastQuery, forecast

        query = ForecastQuery(
            tuple(str(c) for c in batch["city_id"]), start=self.start, horizon_hours=self.horizon
        )
        out = forecast(self.package, query)
        return out[list(OUTPUT_COLUMNS)]


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did."""

    out: Path
    cities: int
    rows: int
    seconds: float  # wall time of the run, actor start-up included
    actors: int
    first_s: float  # when the first block of results reached the driver (start-up, mostly)
    first_rows: int  # rows of that block

    @property
    def rows_per_s(self) -> float:
        """Rows per second over the whole run."""
        return self.rows / self.seconds if self.seconds > 0 else float("nan")

    @property
    def steady_rows_per_s(self) -> float:
        """Rows per second after the first block (the pool's throughput once it is up)."""
        span = self.seconds - self.first_s
        return (self.rows - self.first_rows) / span if span > 0 else float("nan")


def score_package(
    package: str | Path,
    cities: Sequence[str],
    out: str | Path,
    *,
    start: pd.Timestamp | None = None,
    horizon: int = 24,
    batch_size: int = 50,
    actors: int | None = None,
    cpus_per_actor: float = 1.0,
    progress: bool = True,
) -> BatchResult:
    """Forecast ``cities`` of a package with a Ray Data actor pool; write one Parquet file.

    Args:
        package: model package directory (shared storage on a multi-node cluster).
        cities: city ids (each must be in the package).
        out: Parquet file to write (its folder is created).
        start: first forecast hour (UTC); None: each city's default start.
        horizon: hours per city (at most the package's longest horizon).
        batch_size: cities per ``map_batches`` call (one vectorised forecast each).
        actors: actors in the pool; None: as many as the cluster's CPUs allow, at most one per
            block.
        cpus_per_actor: CPUs each actor reserves.
        progress: Ray Data's progress bars.

    Returns:
        A :class:`BatchResult` (rows written, wall time, actors used).
    """
    info = current()  # the entry point connected; fails clearly otherwise
    t0 = time.perf_counter()
    ids = list(dict.fromkeys(str(c) for c in cities))
    blocks = -(-len(ids) // batch_size)
    n = actors or max(1, min(blocks, int(info.cpus // cpus_per_actor) or 1))
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    ds = ray.data.from_items([{"city_id": c} for c in ids], override_num_blocks=blocks)
    scored = ds.map_batches(
        PackageScorer,
        fn_constructor_kwargs={"package": str(package), "start": start, "horizon": horizon},
        batch_size=batch_size,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=n),
        num_cpus=cpus_per_actor,
    )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, first_s, first_rows = 0, 0.0, 0
    writer: pq.ParquetWriter | None = None
    try:
        for batch in scored.iter_batches(batch_format="pandas", batch_size=None):
            table = pa.Table.from_pandas(batch, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            if rows == 0:
                first_s, first_rows = time.perf_counter() - t0, len(batch)
            rows += len(batch)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # no city: an empty file with the columns
        pd.DataFrame(columns=list(OUTPUT_COLUMNS)).to_parquet(path, index=False)
    return BatchResult(path, len(ids), rows, time.perf_counter() - t0, n, first_s, first_rows)
