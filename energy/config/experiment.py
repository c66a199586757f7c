"""Experiment configuration: one YAML file → one validated object (pydantic, unknown keys fail).

A profile (``energy/config/profiles/cpu.yaml``, ``seed.yaml``, ``seed_init.yaml``) looks like::

    horizon: 24
    scope: global            # global: one model over all cities; per_city: one set per city
    seed: 0
    features: {...}          # FeatureConfig fields, shared by every model unless it sets its own
    models:
      xgboost: {...}         # the model kind's Config fields
      lstm: {...}
      transformer: {...}
    ensemble: {method: stacking, per_step: true, ...}
    baselines: [seasonal_naive, vanilla_mlr]

Settings are read when asked for (:func:`load_config`), never at import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from energy.features.config import FeatureConfig
from energy.models.base import MAX_HORIZON

CONFIG_DIR = Path(__file__).resolve().parent / "profiles"


class EnsembleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["mean", "inverse_error", "stacking"] = "stacking"
    per_step: bool = True
    stacking_folds: int = Field(default=2, ge=1)
    stacking_fold_days: int = Field(default=14, ge=1)
    val_days: int = Field(default=28, ge=1)
    nonneg: bool = True


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
    """A whole experiment: features, member models, ensemble, baselines."""

    model_config = ConfigDict(extra="forbid")
    name: str = "experiment"
    horizon: int = Field(default=24, ge=1, le=MAX_HORIZON)
    scope: Literal["global", "per_city"] = "global"
    seed: int = 0
    features: FeatureConfig = FeatureConfig()
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    ensemble: EnsembleSettings = EnsembleSettings()
    baselines: list[str] = Field(default_factory=lambda: ["seasonal_naive", "vanilla_mlr"])
    promotion: PromotionSettings = PromotionSettings()

    @model_validator(mode="after")
    def _check(self) -> Self:
        from energy.models.kinds import kinds, model_class

        if self.features.horizon < self.horizon:
            raise ValueError(
                f"features.horizon: {self.features.horizon} is shorter than horizon {self.horizon} "
                "(load lags must be at least the forecast horizon)"
            )
        for kind, cfg in {**self.models, **{b: {} for b in self.baselines}}.items():
            if kind not in kinds():
                raise ValueError(
                    f"models: unknown model kind {kind!r} (known: {', '.join(kinds())})"
                )
            model_class(kind).Config.model_validate(self._member_config(kind, cfg))
        for kind, cfg in self.member_configs().items():
            lookback = cfg.get("lookback")
            lags = FeatureConfig.model_validate(cfg.get("features", {})).lags or (0,)
            if lookback is not None and int(lookback) < max(lags):
                raise ValueError(
                    f"models.{kind}.lookback: {lookback} h is shorter than its largest load lag "
                    f"{max(lags)} h"
                )
        return self

    def _member_config(self, kind: str, cfg: dict[str, Any]) -> dict[str, Any]:
        """A member's config with the shared features/seed filled in where the kind takes them."""
        from energy.models.kinds import model_class

        fields = model_class(kind).Config.model_fields
        out = dict(cfg)
        if "features" in fields and "features" not in out:
            out["features"] = self.features.model_dump()
        if "seed" in fields and "seed" not in out:
            out["seed"] = self.seed
        return out

    def member_configs(self) -> dict[str, dict[str, Any]]:
        """``{kind: config}`` for every model of the ensemble, ready for ``registry.create``."""
        return {k: self._member_config(k, c) for k, c in self.models.items()}

    def baseline_configs(self) -> dict[str, dict[str, Any]]:
        return {b: self._member_config(b, {}) for b in self.baselines}

    def ensemble_config(self) -> dict[str, Any]:
        """Config of the ``ensemble`` kind (``build_model`` wraps it per city for ``per_city``)."""
        members = {k: {"kind": k, "config": c} for k, c in self.member_configs().items()}
        return {
            "members": members,
            **self.ensemble.model_dump(),
            "horizon": self.horizon,
            "seed": self.seed,
        }


def load_config(
    path: str | os.PathLike[str], overrides: dict[str, Any] | None = None
) -> ExperimentConfig:
    """Read a YAML profile (a path, or a name under energy/config/profiles like ``cpu``)."""
    p = Path(path)
    if not p.suffix and not p.exists():
        p = CONFIG_DIR / f"{p.name}.yaml"
    if not p.is_file():
        raise FileNotFoundError(f"--config: {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(
            f"--config: {str(p)!r} is not valid YAML ({' '.join(str(e).split())})"
        ) from e
    if not isinstance(data, dict):
        raise ValueError(f"--config: {str(p)!r} must hold a mapping of settings")
    data.update(overrides or {})
    data.setdefault("name", p.stem)
    return ExperimentConfig.model_validate(data)
