"""``ModelSpec``: a model kind plus its config, as nested inside wrapper configs (ensemble members,
the per-city wrapper's inner model).

The inner config is validated against the kind's own ``Config`` when the spec is read, so a typo
in a member's hyper-parameters fails when the experiment config is loaded, not after an hour of
training the other members.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from energy.models import kinds as registry
from energy.models.base import Forecaster


class ModelSpec(BaseModel):
    """One model to build: ``kind`` (a registered kind) and its ``config`` (that kind's fields)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    config: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Self:
        # model_class raises ValueError for an unknown kind; Config raises ValidationError for
        # unknown or ill-typed fields. Both surface as a ValidationError of the outer config.
        registry.model_class(self.kind).Config.model_validate(self.config)
        return self

    def build(self) -> Forecaster:
        """A new, unfitted forecaster of this kind and config."""
        return registry.create(self.kind, dict(self.config))
