"""``transformer``: a global Transformer-encoder forecaster over lookback + horizon tokens.

The network lives in :mod:`energy.models.transformer_net`; data plumbing, training and files in
:mod:`energy.models._neural`. The seed (GPU-sized) spec is ``d_model=256, n_heads=8, n_layers=6,
dim_feedforward=1024``; the defaults here are small enough for a 2-core CPU.
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from energy.models._neural import NeuralConfig, NeuralForecaster, shared_search_space
from energy.models.base import ModelConfig, Param
from energy.models.transformer_net import TransformerNet, TransformerNetConfig


class TransformerConfig(NeuralConfig):
    """Transformer hyper-parameters (plus the shared ones of :class:`NeuralConfig`)."""

    d_model: int = Field(default=32, ge=1)
    n_heads: int = Field(default=2, ge=1)
    n_layers: int = Field(default=2, ge=1)
    dim_feedforward: int = Field(default=64, ge=1)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    lr: float = Field(default=1e-3, gt=0)  # 2e-3 made the validation loss jumpy

    @model_validator(mode="after")
    def _heads_divide_width(self) -> Self:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} must be divisible by n_heads {self.n_heads}")
        return self


class TransformerForecaster(NeuralForecaster):
    """Global Transformer encoder over all cities, with an optional city embedding."""

    kind = "transformer"
    Config: ClassVar[type[ModelConfig]] = TransformerConfig
    config: TransformerConfig
    net_class = TransformerNet
    net_config_class = TransformerNetConfig

    @classmethod
    def search_space(cls) -> dict[str, Param]:
        # every n_heads choice divides every d_model choice
        return {
            **shared_search_space(),
            "d_model": Param("categorical", choices=(32, 64, 128)),
            "n_heads": Param("categorical", choices=(2, 4, 8)),
            "n_layers": Param("int", 1, 4),
            "dim_feedforward": Param("categorical", choices=(64, 128, 256)),
            "dropout": Param("float", 0.0, 0.3),
        }

    def _net_config(
        self, n_past: int, n_future: int, n_cities: int, level: list[int]
    ) -> TransformerNetConfig:
        if n_future != n_past - 1:
            raise ValueError(f"transformer: future width {n_future} must be past width - 1")
        c = self.config
        return TransformerNetConfig(
            n_past=n_past, horizon=c.features.horizon, d_model=c.d_model, n_heads=c.n_heads,
            n_layers=c.n_layers, dim_feedforward=c.dim_feedforward, dropout=c.dropout,
            n_cities=n_cities, level_columns=level,
        )  # fmt: skip
