"""Settings of distributed training: where Ray runs, how each fit is scaled, how the fan-out over
cities is scheduled. Read from ``energy train --workers N --ray KEY=VALUE`` (or built in code)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

# Ray Train V2's controller polls worker reports every 2 s by default: each per-epoch report
# then costs ~2 s (../shared/NOTES.md). 0.1 s makes it ~0.1 s. Read by the controller process,
# so it must be in the environment before Ray starts (or in the job's runtime_env).
HEALTH_CHECK_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
HEALTH_CHECK_S = "0.1"


class RaySettings(BaseModel):
    """How training uses Ray. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = None
    """Cluster address the entry point connects to (:func:`~energy.distributed.cluster.connect`);
    None: ``RAY_ADDRESS`` if set, else a local instance sized to the machine."""
    num_workers: int = Field(default=1, ge=1)
    """Ray Train data-parallel workers per model fit (DDP for LSTM/Transformer, sharded XGBoost)."""
    cpus_per_worker: float = Field(default=1.0, gt=0)
    use_gpu: bool | None = None
    """One GPU per Train worker; None: when the cluster has GPUs."""
    max_failures: int = Field(default=2, ge=-1)
    """Worker-group restarts from the latest checkpoint before a fit fails (-1: unlimited)."""
    storage_path: str | None = None
    """Checkpoints: an absolute path (one machine), a shared file system or an object store URI
    (``s3://…``, ``gs://…``) for many nodes; None: Ray's default (``~/ray_results``)."""
    run_name: str | None = None
    """Prefix of the Train run names; running again with the same name and storage resumes each
    fit from its latest checkpoint. None: a fresh timestamped name."""
    checkpoints_to_keep: int = Field(default=2, ge=1)
    cpus_per_task: float = Field(default=1.0, gt=0)
    """Fan-out: CPUs reserved per city task (fractional is fine, e.g. 0.5)."""
    gpus_per_task: float = Field(default=0.0, ge=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    """Fan-out: city tasks in flight at once; None: as many as the cluster's CPUs allow."""
    cities_per_task: int | None = Field(default=None, ge=1)
    """Fan-out: cities trained one after another in one task; None: chosen from the cluster size
    (about four tasks per slot) so that per-task overhead does not dominate small cities."""
    spread: bool = True
    """Fan-out: spread tasks over the nodes (``SPREAD``) rather than filling one node first."""

    @field_validator("storage_path")
    @classmethod
    def _absolute(cls, v: str | None) -> str | None:
        # Ray rejects relative paths ("URI has empty scheme"): resolve them here
        if v is None or "://" in v:
            return v
        return str(Path(os.path.expanduser(v)).resolve())


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (``--ray``) → settings dict; values are YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--ray: expected KEY=VALUE, got {pair!r}")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out
