"""Where the served model comes from, and swapping it when the champion moves. No Ray here.

A :class:`ModelSource` is either the registry (``models:/<name>@<alias>`` through
:mod:`energy.tracking`) or a package directory (``energy train --out DIR``; tests, offline use).
:class:`ModelHolder` keeps the current :class:`~serve_app.service.ForecastService` and replaces it
when the source's version changes: the new package is loaded beside the old one and swapped in with
one assignment, so requests in flight finish on the model they started with and none fails.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from energy.forecast.package import PACKAGE_FILE
from energy.forecast.package_io import read_package
from serve_app.schemas import ModelInfo, ModelRef
from serve_app.service import ForecastService

log = logging.getLogger("energy.serve")


@dataclass(frozen=True)
class ModelSource:
    """What to serve: ``package`` (a directory) or ``model_name`` + ``alias`` in the registry.

    ``tracking_uri`` pins the MLflow store (replicas run in other working directories, so the
    driver's absolute URI is passed along); None → :func:`energy.tracking.tracking_uri`.
    """

    package: str | None = None
    model_name: str | None = None
    alias: str = "champion"
    tracking_uri: str | None = None

    def __post_init__(self) -> None:
        if (self.package is None) == (self.model_name is None):
            raise ValueError(
                "model source: give exactly one of a package directory or a model name"
            )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSource:
        return cls(
            **{k: d[k] for k in ("package", "model_name", "alias", "tracking_uri") if k in d}
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return (
            f"package {self.package}" if self.package else f"models:/{self.model_name}@{self.alias}"
        )

    def current_version(self) -> str | None:
        """The version the source points at now (cheap; polled). None: nothing to serve yet."""
        if self.package is not None:
            meta = Path(self.package) / PACKAGE_FILE
            if not meta.is_file():
                return None
            return "pkg-" + hashlib.sha256(meta.read_bytes()).hexdigest()[:12]
        from energy import tracking

        self._use_uri()
        return tracking.alias_version(str(self.model_name), self.alias)

    def load(self, cache_size: int) -> ForecastService:
        """Read the model the source points at now into a ready service."""
        t0 = time.perf_counter()
        if self.package is not None:
            version = self.current_version() or "?"
            path, name, extra = Path(self.package), str(Path(self.package).resolve()), {}
            owned = None
            src = "package"
        else:
            from energy import tracking

            self._use_uri()
            owned = tempfile.mkdtemp(prefix="energy-serve-")  # removed when replaced
            reg = tracking.resolve_alias(str(self.model_name), self.alias, dst=owned)
            version, path, name = str(reg.version), Path(str(reg.package_dir)), str(self.model_name)
            extra = {"metrics": dict(getattr(reg, "metrics", {}) or {})}
            src = "registry"
        pkg = read_package(path)
        meta = pkg.meta
        info = ModelInfo(
            name=name, version=version, source=src,  # type: ignore[arg-type]
            alias=self.alias if src == "registry" else None, kind=str(meta.get("kind", "?")),
            config_name=meta.get("config_name"), trained_at=meta.get("trained_at"),
            train_end=_str(meta.get("train_end")), history_end=_str(meta.get("history_end")),
            data_hash=meta.get("data_hash"), horizon=pkg.max_horizon,
            members=list(meta.get("members") or pkg.members),
            metrics={**(meta.get("metrics") or {}), **extra.get("metrics", {})},
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds"), path=str(path),
        )  # fmt: skip
        service = ForecastService(pkg, info, cache_size=cache_size)
        service.owned_dir = owned
        service.warm()
        log.info(
            "serve: loaded %s version %s (%s, %d cities) in %.1f s",
            name, version, info.kind, len(pkg.cities), time.perf_counter() - t0,
        )  # fmt: skip
        return service

    def _use_uri(self) -> None:
        if self.tracking_uri:
            import os

            os.environ["MLFLOW_TRACKING_URI"] = self.tracking_uri


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


class ModelHolder:
    """The service for the source's current version; :meth:`refresh` swaps in a new one.

    Thread-safe: refreshes are serialised; readers take :attr:`service` (one attribute read) and
    keep using that object for their whole request.
    """

    def __init__(self, source: ModelSource, *, cache_size: int = 4096) -> None:
        self.source = source
        self.cache_size = cache_size
        self.service: ForecastService | None = None
        self.error: str | None = None
        self.reloads = 0
        self._lock = threading.Lock()

    @property
    def ref(self) -> ModelRef | None:
        s = self.service
        return s.ref if s is not None else None

    def refresh(self) -> bool:
        """Load the source's current version if it differs from the served one.

        Returns True when a new model was swapped in. A failure (registry unreachable, a package
        being rewritten) keeps the old model, records :attr:`error` and is retried next time.
        """
        with self._lock:
            try:
                version = self.source.current_version()
                if version is None:
                    self.error = f"no model at {self.source.describe()} yet"
                    return False
                if self.service is not None and self.service.ref.version == version:
                    self.error = None
                    return False
                new = self.source.load(self.cache_size)
            except Exception as e:  # keep serving the old model; readiness reports the reason
                self.error = f"{type(e).__name__}: {' '.join(str(e).split())}"
                log.warning(
                    "serve: model refresh failed (%s); keeping the current model", self.error
                )
                return False
            old = self.service
            self.service = new  # the swap: one assignment
            self.error = None
            if old is not None:
                if old.owned_dir:  # in memory now; its download is no longer needed
                    shutil.rmtree(old.owned_dir, ignore_errors=True)
                self.reloads += 1
                log.info("serve: switched from version %s to %s", old.ref.version, new.ref.version)
            return True

    def set_cache_size(self, n: int) -> None:
        self.cache_size = n
        if self.service is not None:
            self.service.cache.resize(n)
