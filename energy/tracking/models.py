"""The model registry: packages as pyfunc models, versions, aliases, tags (see energy.tracking)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from energy.tracking.runs import start_run
from energy.tracking.store import (
    RegistryLookupError,
    TrackingError,
    client,
    enabled,
    not_found,
)


@dataclass
class RegisteredVersion:
    """A registered model version. ``metrics``: ``{"overall": {m: v}, "per_city": {c: {m: v}}}``
    read from the version's tags; ``package_dir`` is set once the package was downloaded."""

    name: str
    version: str
    tags: dict[str, str]
    aliases: list[str]
    run_id: str | None
    created_ms: int
    package_dir: Path | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        overall = {
            k.removeprefix("metric."): float(v)
            for k, v in self.tags.items()
            if k.startswith("metric.")
        }
        per_city: dict[str, dict[str, float]] = {}
        for k, v in self.tags.items():
            if k.startswith("per_city."):
                for city, value in json.loads(v).items():
                    per_city.setdefault(city, {})[k.removeprefix("per_city.")] = float(value)
        return {"overall": overall, "per_city": per_city}


def _version(mv: Any) -> RegisteredVersion:
    return RegisteredVersion(
        name=mv.name,
        version=str(mv.version),
        tags=dict(mv.tags or {}),
        aliases=list(mv.aliases or []),
        run_id=mv.run_id,
        created_ms=int(mv.creation_timestamp or 0),
    )


def log_package(run_id: str, pkg_dir: str | os.PathLike[str]) -> str:
    """Log a model package as the pyfunc model ``model`` of run ``run_id``; returns its URI."""
    import mlflow

    from energy.tracking import pyfunc_model

    pkg = Path(pkg_dir)
    if not (pkg / "package.json").is_file():
        raise FileNotFoundError(f"model package: {str(pkg)!r} has no package.json")
    meta = json.loads((pkg / "package.json").read_text())
    c = client()
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "energy_model.py"
        code.write_text(pyfunc_model.MODEL_CODE)
        with mlflow.start_run(run_id=run_id, experiment_id=c.get_run(run_id).info.experiment_id):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(code),
                artifacts={"package": str(pkg)},
                signature=pyfunc_model.signature(meta),
                input_example=pyfunc_model.input_example(meta),
                pip_requirements=pyfunc_model.requirements(),
            )
    return str(info.model_uri)


def register_model(model_uri: str, *, name: str, tags: Mapping[str, Any] | None = None) -> str:
    """A new version of ``name`` from a logged model, with alias ``challenger``; its number."""
    import mlflow

    c = client()
    str_tags = {str(k): str(v) for k, v in (tags or {}).items()}
    mv = mlflow.register_model(model_uri, name, tags=str_tags)
    c.set_registered_model_alias(name, "challenger", str(mv.version))
    return str(mv.version)


def register_package(
    pkg_dir: str | os.PathLike[str],
    *,
    name: str,
    run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> str:
    """Log a model package as a pyfunc model (in run ``run_id``, else a new ``register`` run) and
    register it as a new version of ``name`` (alias ``challenger``); returns the version."""
    if not enabled():
        raise TrackingError("registering a model needs tracking (ENERGY_TRACKING is off)")
    if run_id is None:
        with start_run(f"register {name}", kind="register") as run:
            assert run.id is not None
            uri = log_package(run.id, pkg_dir)
    else:
        uri = log_package(run_id, pkg_dir)
    return register_model(uri, name=name, tags=tags)


def get_version(name: str, version: str) -> RegisteredVersion:
    from mlflow.exceptions import MlflowException

    try:
        return _version(client().get_model_version(name, str(version)))
    except MlflowException as e:
        if not_found(e):
            raise RegistryLookupError(f"version: {name!r} has no version {version!r}") from None
        raise


def list_versions(name: str) -> list[RegisteredVersion]:
    """Every version of ``name``, newest first (empty when the model does not exist)."""
    from mlflow.exceptions import MlflowException

    c = client()
    found = [_version(mv) for mv in c.search_model_versions(f"name = '{name}'", max_results=10_000)]
    try:  # search results carry no aliases on every store: take them from the model
        aliases = dict(c.get_registered_model(name).aliases or {})
    except MlflowException as e:
        if not_found(e):
            return []
        raise
    for v in found:
        v.aliases = sorted(a for a, ver in aliases.items() if str(ver) == v.version)
    return sorted(found, key=lambda v: -int(v.version))


def alias_version(name: str, alias: str = "champion") -> str | None:
    """The version ``alias`` points at, or None; one cheap call (Serve polls it)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client().get_model_version_by_alias(name, alias).version)
    except MlflowException as e:
        if not_found(e) or getattr(e, "error_code", "") == "INVALID_PARAMETER_VALUE":
            return None
        raise


def download_package(
    v: RegisteredVersion, dst: str | os.PathLike[str] | None = None
) -> RegisteredVersion:
    """Download ``v``'s model package (to ``dst``, default a new temporary folder)."""
    import mlflow
    from mlflow.models import Model

    client()
    dst = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="energy-model-"))
    dst.mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{v.name}/{v.version}", dst_path=str(dst)
    )
    flavor = Model.load(local).flavors["python_function"]
    v.package_dir = Path(local) / flavor["artifacts"]["package"]["path"]
    return v


def resolve_alias(
    name: str, alias: str = "champion", *, dst: str | os.PathLike[str] | None = None
) -> RegisteredVersion:
    """The version ``alias`` points at, with its package downloaded (``.package_dir``).

    Raises:
        RegistryLookupError: the model or the alias does not exist.
        TrackingUnavailableError: the tracking server is unreachable.
    """
    version = alias_version(name, alias)
    if version is None:
        have = [f"{v.version} {v.aliases}" for v in list_versions(name)[:5]]
        raise RegistryLookupError(
            f"alias: registered model {name!r} has no alias {alias!r} "
            + (f"(latest versions: {'; '.join(have)})" if have else "(no versions registered)")
        )
    return download_package(get_version(name, version), dst)


def set_alias(name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version``: one update, so the alias never dangles or doubles."""
    client().set_registered_model_alias(name, alias, str(version))


def set_version_tags(name: str, version: str, tags: Mapping[str, Any]) -> None:
    c = client()
    for k, v in tags.items():
        c.set_model_version_tag(name, str(version), str(k), str(v))


def model_tags(name: str, *, missing_ok: bool = False) -> dict[str, str]:
    """Tags of registered model ``name`` (empty when it is missing and ``missing_ok``)."""
    from mlflow.exceptions import MlflowException

    try:
        return dict(client().get_registered_model(name).tags or {})
    except MlflowException as e:
        if not_found(e):
            if missing_ok:
                return {}
            raise RegistryLookupError(f"--name: no registered model {name!r}") from None
        raise


def set_model_tag(name: str, key: str, value: str) -> None:
    client().set_registered_model_tag(name, key, value)


def create_model(name: str, tags: Mapping[str, str] | None = None) -> bool:
    """Create registered model ``name``; False when it exists (atomic: the name is unique)."""
    from mlflow.exceptions import MlflowException

    try:
        client().create_registered_model(name, tags=dict(tags or {}))
        return True
    except MlflowException as e:
        if getattr(e, "error_code", "") == "RESOURCE_ALREADY_EXISTS":
            return False
        raise


def delete_model(name: str) -> None:
    """Delete registered model ``name`` (no error when it is gone)."""
    from mlflow.exceptions import MlflowException

    try:
        client().delete_registered_model(name)
    except MlflowException as e:
        if not not_found(e):
            raise
