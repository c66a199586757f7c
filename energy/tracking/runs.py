"""Tracking runs: params, metrics, the data set input, provenance (see energy.tracking)."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energy.tracking.store import client, enabled, experiment_id
from energy.versions import package_versions

REPO = Path(__file__).resolve().parents[2]
_KEY_OK = re.compile(r"[^A-Za-z0-9_\-. /]")


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts → ``{"a.b.c": value}``; lists become JSON text."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out |= flatten(v, key + ".")
        else:
            out[key] = json.dumps(v) if isinstance(v, (list, tuple)) else v
    return out


def metric_key(*parts: object) -> str:
    """A metric name MLflow accepts: parts joined by '/', odd characters replaced by '_'."""
    return "/".join(_KEY_OK.sub("_", str(p)) for p in parts)


@functools.cache
def git_commit() -> str:
    """HEAD of the repository the code runs from (``+dirty`` when files changed), or ``unknown``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO, capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("+dirty" if dirty else "")) if sha else "unknown"


@dataclass
class Run:
    """A live tracking run; every method is a no-op when tracking is off (``id`` is None)."""

    id: str | None
    _client: Any = field(default=None, repr=False)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        if self.id is None:
            return
        items = [Param(str(k), str(v)[:6000]) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):
            self._client.log_batch(self.id, params=items[i : i + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """One batched call; non-finite values are skipped (MLflow cannot chart them)."""
        from mlflow.entities import Metric

        if self.id is None:
            return
        now = int(time.time() * 1000)
        items = [
            Metric(metric_key(k), float(v), now, step or 0)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        for i in range(0, len(items), 1000):
            self._client.log_batch(self.id, metrics=items[i : i + 1000])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        if self.id is not None and tags:
            items = [RunTag(str(k), str(v)[:8000]) for k, v in tags.items()]
            self._client.log_batch(self.id, tags=items)

    def log_dict(self, obj: Any, artifact_file: str) -> None:
        if self.id is not None:
            self._client.log_dict(self.id, obj, artifact_file)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        if self.id is not None:
            self._client.log_artifacts(self.id, str(local_dir), artifact_path)

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        if self.id is not None:
            self._client.log_artifact(self.id, str(local_file), artifact_path)


def _log_dataset(run: Run, dataset: Any) -> None:
    """An energy Dataset (or a data set directory) as an MLflow input with its content hash."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    if isinstance(dataset, (str, os.PathLike)):
        path = Path(dataset).resolve()
        manifest = json.loads((path / "manifest.json").read_text())
        source = str(path)
    else:
        manifest = dict(dataset.manifest)
        source = str(manifest.get("source", {}).get("path", "in-memory"))
    digest = str(manifest.get("content_hash", ""))
    name = str(manifest.get("source", {}).get("kind", "data"))
    with warnings.catch_warnings():  # "can be interpreted in multiple ways": both are local
        warnings.simplefilter("ignore", UserWarning)
        src = resolve_dataset_source(source)
    ds = MetaDataset(src, name=name, digest=digest[:32] or None)  # type: ignore[abstract]
    ctx = InputTag("mlflow.data.context", "training")
    run._client.log_inputs(run.id, datasets=[DatasetInput(ds._to_mlflow_entity(), [ctx])])
    run.set_tags({"data.hash": digest, "data.source": source, "data.kind": name})
    run.log_dict(manifest, "data/manifest.json")


@contextlib.contextmanager
def start_run(
    run_name: str,
    *,
    kind: str,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
    dataset: Any = None,
) -> Iterator[Run]:
    """A tracking run (FINISHED on exit, FAILED on an exception); a no-op when tracking is off.

    Args:
        run_name: shown in the MLflow UI.
        kind: ``train``, ``tune``, ``trial``, ``backtest`` or ``promotion`` (tag ``energy.kind``).
        params: the resolved config; nested dicts are flattened to ``a.b.c``.
        tags: extra run tags.
        parent_run_id: nests this run under another (Ray workers and Tune trials).
        dataset: an energy Dataset or a data set directory, logged as the run's input.
    """
    if not enabled():
        yield Run(None)
        return
    c = client()
    all_tags = {"energy.kind": kind, "mlflow.source.git.commit": git_commit()}
    all_tags |= {f"version.{k}": v for k, v in package_versions().items()}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    all_tags |= {str(k): str(v) for k, v in (tags or {}).items()}
    info = c.create_run(experiment_id(c), run_name=run_name, tags=all_tags).info
    run = Run(info.run_id, c)
    status = "FAILED"
    try:
        if params:
            run.log_params(params)
        if dataset is not None:
            _log_dataset(run, dataset)
        yield run
        status = "FINISHED"
    finally:
        c.set_terminated(info.run_id, status)
