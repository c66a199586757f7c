"""Experiment configuration: one YAML file → one validated object (pydantic, unknown keys fail).

A profile (``energy/config/profiles/cpu.yaml``, ``seed.yaml``, ``seed_init.yaml``) looks like::

    horizon: 24
    scope: global            # global: one model over all cities; per_city: one set per city
    seed: 0
    features: {...}          # FeatureConfig fields, shared by every model unless it sets its own
    models:                  # member name → that kind's Config fields (energy.models.configs)
      xgboost: {...}         # the kind defaults to the name ...
      lstm: {...}
      deep_trees: {kind: xgboost, max_depth: 10}   # ... or is given as `kind`
    ensemble: {method: stacking, per_step: true, ...}
    baselines: [seasonal_naive, vanilla_mlr]
    promotion: {...}         # the promotion gate (energy.lifecycle)
    backtest: {...}          # K-fold / out-of-time / city-wise settings (energy.evaluation)

``models`` is parsed once into typed member configs (a union discriminated by ``kind``), with the
shared ``features`` and ``seed`` filled in where a member does not set its own, so every consumer
reads resolved, typed values. :func:`load_config` reads a file; a bad key anywhere is a
:class:`ConfigError` naming it by its dotted path (``models.xgboost.max_dept``). Settings are read
when asked for, never at import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from energy.config.errors import ConfigError, error_lines
from energy.evaluation.settings import BacktestSettings
from energy.features.config import FeatureConfig
from energy.models.base import MAX_HORIZON
from energy.models.configs import (
    MEMBER_CONFIGS,
    AnyMemberConfig,
    EnsembleWeighting,
    MemberConfig,
    NeuralConfig,
)
from energy.models.spec import ModelSpec

CONFIG_DIR = Path(__file__).resolve().parent / "profiles"
SHARED_FIELDS = ("features", "seed")  # experiment-level values a member inherits unless set


class EnsembleSettings(EnsembleWeighting):
    """The profile's ``ensemble:`` section: the ensemble kind's weighting settings, stacking by
    default (the kind's own default is the plain mean)."""

    method: Literal["mean", "inverse_error", "stacking"] = "stacking"


class PromotionSettings(BaseModel):
    """Promotion gate (energy.lifecycle.promotion): how a challenger must beat the champion.

    The protocol is the last ``windows_days`` days of day-ahead origins of the data set: the
    model is fitted on the data before them and scored on them, the champion on the same ones.
    """

    model_config = ConfigDict(extra="forbid")
    registered_model: str = Field(default="energy-forecast", pattern=r"^[A-Za-z0-9_\-]+$")
    metric: Literal["mape", "mape_pooled", "mae", "rmse", "mase", "mase24", "r2"] = "mape"
    margin: float = Field(default=0.01, ge=0.0, lt=1.0)  # relative improvement required
    city_tolerance: float = Field(default=0.05, ge=0.0)  # relative worsening allowed per city
    windows_days: int = Field(default=14, ge=1)
    refit: bool = False  # after scoring, refit on all data (twice the training time)


class ExperimentConfig(BaseModel):
    """A whole experiment: features, member models, ensemble, baselines, gate and backtests."""

    model_config = ConfigDict(extra="forbid")
    name: str = "experiment"
    horizon: int = Field(default=24, ge=1, le=MAX_HORIZON)
    scope: Literal["global", "per_city"] = "global"
    seed: int = 0
    features: FeatureConfig = FeatureConfig()
    models: dict[str, MemberConfig] = Field(default_factory=dict)
    ensemble: EnsembleSettings = EnsembleSettings()
    baselines: list[str] = Field(default_factory=lambda: ["seasonal_naive", "vanilla_mlr"])
    promotion: PromotionSettings = PromotionSettings()
    backtest: BacktestSettings = BacktestSettings()

    @model_validator(mode="before")
    @classmethod
    def _resolve_members(cls, data: Any) -> Any:
        """Each member's ``kind`` (default: its name) and the shared features / seed it lacks."""
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            return data
        shared = {k: data[k] for k in SHARED_FIELDS if k in data}
        models = {}
        for name, raw in data["models"].items():
            raw = {} if raw is None else raw
            if isinstance(raw, dict):
                kind = raw.get("kind", name)
                if kind not in MEMBER_CONFIGS:
                    raise ValueError(
                        f"models.{name}: unknown model kind {kind!r} "
                        f"(known: {', '.join(sorted(MEMBER_CONFIGS))})"
                    )
                fields = MEMBER_CONFIGS[kind].model_fields
                inherit = {k: v for k, v in shared.items() if k in fields and k not in raw}
                raw = {"kind": kind, **inherit, **raw}
            models[name] = raw
        return {**data, "models": models}

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.features.horizon < self.horizon:
            raise ValueError(
                f"features.horizon: {self.features.horizon} is shorter than horizon {self.horizon} "
                "(load lags must be at least the forecast horizon)"
            )
        for b in self.baselines:
            if b not in MEMBER_CONFIGS:
                raise ValueError(
                    f"baselines: unknown model kind {b!r} "
                    f"(known: {', '.join(sorted(MEMBER_CONFIGS))})"
                )
        for name, m in self.models.items():
            if not isinstance(m, NeuralConfig):
                continue
            longest = max(m.features.lags or (0,))
            if m.lookback < longest:
                raise ValueError(
                    f"models.{name}.lookback: {m.lookback} h is shorter than its largest load lag "
                    f"{longest} h"
                )
        return self

    # ---- typed access ---------------------------------------------------------------------------
    def member(self, name: str) -> AnyMemberConfig:
        """The typed config of a member or a baseline (baselines take the shared seed)."""
        if name in self.models:
            return self.models[name]
        if name in self.baselines:
            cls = MEMBER_CONFIGS[name]
            shared = {"seed": self.seed, "features": self.features}
            found = cls.model_validate({k: v for k, v in shared.items() if k in cls.model_fields})
            return cast(AnyMemberConfig, found)
        known = ", ".join(["ensemble", *self.models, *self.baselines])
        raise ValueError(f"--model: {name!r} is not in this config (have: {known})")

    def model_spec(self, name: str = "ensemble") -> ModelSpec:
        """What to build for ``name`` (the ensemble, a member, or a baseline), wrapped in a
        per-city model when ``scope`` is ``per_city``: ``config.model_spec(name).build()``."""
        if name == "ensemble":
            spec = ModelSpec(kind="ensemble", config=self.ensemble_config())
        else:
            m = self.member(name)
            spec = ModelSpec(kind=m.kind, config=m.model_dump())
        if self.scope == "per_city":
            return ModelSpec(kind="per_city", config={"model": spec.model_dump()})
        return spec

    # ---- mappings for callers that build from dicts -------------------------------------------
    def member_configs(self) -> dict[str, dict[str, Any]]:
        """``{name: config}`` for every model of the ensemble, ready for ``kinds.create``."""
        return {name: m.model_dump() for name, m in self.models.items()}

    def baseline_configs(self) -> dict[str, dict[str, Any]]:
        return {b: self.member(b).model_dump() for b in self.baselines}

    def ensemble_config(self) -> dict[str, Any]:
        """Config of the ``ensemble`` kind (``model_spec`` wraps it per city for ``per_city``)."""
        members = {n: {"kind": m.kind, "config": m.model_dump()} for n, m in self.models.items()}
        return {
            "members": members,
            **self.ensemble.model_dump(),
            "horizon": self.horizon,
            "seed": self.seed,
        }

    def to_yaml(self) -> str:
        """The resolved config as YAML; :func:`load_config` reads it back to an equal config."""
        data = self.model_dump(mode="json")
        data["models"] = {n: {"kind": m.pop("kind"), **m} for n, m in data["models"].items()}
        return yaml.dump(data, Dumper=_FlowLists, sort_keys=False, width=100)


class _FlowLists(yaml.SafeDumper):
    """Block mappings, one-line lists (``lags: [24, 48, 168]``), as the profiles are written."""


_FlowLists.add_representer(
    list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """A profile's file: ``path`` itself, or a name under energy/config/profiles like ``cpu``."""
    p = Path(path)
    if not p.suffix and not p.exists():
        p = CONFIG_DIR / f"{p.name}.yaml"
    if not p.is_file():
        raise FileNotFoundError(f"--config: {str(path)!r} does not exist")
    return p


def profiles() -> list[str]:
    """Names of the profiles shipped in energy/config/profiles."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(
    path: str | os.PathLike[str], overrides: dict[str, Any] | None = None
) -> ExperimentConfig:
    """Read and validate a YAML profile (a path, or a name under energy/config/profiles).

    Raises:
        FileNotFoundError: no such file or profile.
        ConfigError: invalid YAML, or any key or value the config refuses (one line naming the
            dotted path of every bad key, e.g. ``models.xgboost.max_dept``).
    """
    p = resolve_path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(
            f"--config: {str(p)!r} is not valid YAML ({' '.join(str(e).split())})"
        ) from e
    if not isinstance(data, dict):
        raise ConfigError(f"--config: {str(p)!r} must hold a mapping of settings")
    data.update(overrides or {})
    data.setdefault("name", p.stem)
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError("; ".join(error_lines(e))) from e
