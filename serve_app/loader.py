"""Where the served model comes from, and swapping it when the champion moves. No Ray here.

A :class:`ModelSource` is either the registry (``models:/<name>@<alias>`` through
:mod:`energy.tracking`) or a package directory (``energy train --out DIR``; tests, offline use).
:class:`ModelHolder` keeps the current :class:`~serve_app.service.ForecastService` and replaces it
when the source's version changes: the new package is loaded beside the old one and swapped in with
one assignment, so requests in flight finish on the model they started with and none fails.

A champion that fails to load (a broken package, a registry outage) never replaces the served
model: its download is removed at once, the retry waits ``poll_s``, then twice that, and so on up
to ``backoff_max_s`` (a new version at the source is tried at once), the failure is logged once
per streak (with its details, server-side only) and :attr:`ModelHolder.failures` feeds the
replica's alert metrics. Clients see a generic reason (:attr:`ModelHolder.public_error`).
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
        """Where the model comes from, with the full path (server logs only)."""
        return (
            f"package {self.package}" if self.package else f"models:/{self.model_name}@{self.alias}"
        )

    def public_name(self) -> str:
        """The source as clients may see it: the registry name and alias, or the package
        directory's own name (never a server path)."""
        if self.package is not None:
            return f"package {Path(self.package).name}"
        return f"models:/{self.model_name}@{self.alias}"

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
        owned = None if self.package is not None else tempfile.mkdtemp(prefix="energy-serve-")
        try:
            return self._load(cache_size, owned)
        except BaseException:
            if owned is not None:  # a failed load leaves nothing behind
                shutil.rmtree(owned, ignore_errors=True)
            raise

    def _load(self, cache_size: int, owned: str | None) -> ForecastService:
        t0 = time.perf_counter()
        if self.package is not None:
            version = self.current_version() or "?"
            path, name, extra = Path(self.package), Path(self.package).name, {}
            src = "package"
        else:
            from energy import tracking

            self._use_uri()
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
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )  # fmt: skip
        service = ForecastService(pkg, info, cache_size=cache_size)
        service.owned_dir = owned
        service.warm()
        log.info(
            "serve: loaded %s version %s from %s (%s, %d cities) in %.1f s",
            name, version, path, info.kind, len(pkg.cities), time.perf_counter() - t0,
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

    Attributes:
        error: why the last refresh failed, in full (server-side: logs, never a response body).
        public_error: the same, fit for clients (no paths, no exception text).
        failures: failed refreshes in a row (0 once one succeeds); the replica's alert gauge.
        retry_in_s: the current backoff, seconds (0 when not failing).
    """

    def __init__(
        self,
        source: ModelSource,
        *,
        cache_size: int = 4096,
        backoff_base_s: float = 10.0,
        backoff_max_s: float = 300.0,
    ) -> None:
        self.source = source
        self.cache_size = cache_size
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.service: ForecastService | None = None
        self.error: str | None = None
        self.public_error: str | None = None
        self.failures = 0
        self.retry_in_s = 0.0
        self.reloads = 0
        self._retry_at = 0.0  # time.monotonic() before which a failed source is not retried
        self._failed_version: str | None = None  # the version that failed to load, if known
        self._lock = threading.Lock()

    @property
    def ref(self) -> ModelRef | None:
        s = self.service
        return s.ref if s is not None else None

    def refresh(self, *, now: float | None = None) -> bool:
        """Load the source's current version if it differs from the served one.

        Args:
            now: ``time.monotonic()`` (tests pass their own clock).

        Returns:
            True when a new model was swapped in. A failure (registry unreachable, a broken
            package) keeps the old model, records :attr:`error` and backs off; while backing off
            only a different version at the source is tried.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            version: str | None = None
            try:
                if now < self._retry_at and self._failed_version is None:
                    return False  # the source itself failed: wait out the backoff
                version = self.source.current_version()
                if version is None:
                    self._ok()
                    self.error = self.public_error = f"no model at {self.source.public_name()} yet"
                    return False
                if self.service is not None and self.service.ref.version == version:
                    self._ok()
                    return False
                if now < self._retry_at and version == self._failed_version:
                    return False  # the same broken champion: wait out the backoff
                new = self.source.load(self.cache_size)
            except Exception as e:  # keep serving the old model; readiness reports the reason
                self._failed(e, version, now)
                return False
            old = self.service
            self.service = new  # the swap: one assignment
            self._ok()
            if old is not None:
                if old.owned_dir:  # in memory now; its download is no longer needed
                    shutil.rmtree(old.owned_dir, ignore_errors=True)
                self.reloads += 1
                log.info("serve: switched from version %s to %s", old.ref.version, new.ref.version)
            return True

    def close(self) -> None:
        """Remove the served model's download (the replica is stopping)."""
        s = self.service
        if s is not None and s.owned_dir:
            shutil.rmtree(s.owned_dir, ignore_errors=True)

    def set_cache_size(self, n: int) -> None:
        self.cache_size = n
        if self.service is not None:
            self.service.cache.resize(n)

    def _ok(self) -> None:
        if self.failures:
            log.warning(
                "serve: model source %s recovered after %d failed attempts",
                self.source.describe(), self.failures,
            )  # fmt: skip
        self.failures, self.retry_in_s, self._retry_at = 0, 0.0, 0.0
        self._failed_version = None
        self.error = self.public_error = None

    def _failed(self, exc: Exception, version: str | None, now: float) -> None:
        if version != self._failed_version:
            self.failures = 0  # a new version failing starts a new streak
        self.failures += 1
        self._failed_version = version
        self.retry_in_s = min(self.backoff_base_s * 2 ** (self.failures - 1), self.backoff_max_s)
        self._retry_at = now + self.retry_in_s
        self.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        what = f"version {version}" if version else "the current version"
        self.public_error = (
            f"loading {what} of {self.source.public_name()} failed; details in the server log"
        )
        if self.failures == 1:  # once per streak, with the traceback; later attempts quietly
            log.error(
                "serve: loading %s from %s failed; keeping the current model (%s) and retrying "
                "with backoff up to %.0f s",
                what, self.source.describe(), self.ref.version if self.ref else "none",
                self.backoff_max_s, exc_info=exc,
            )  # fmt: skip
        else:
            log.debug("serve: attempt %d failed: %s", self.failures, self.error)
