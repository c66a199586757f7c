"""``transformer``: a global Transformer-encoder forecaster over lookback + horizon tokens.

The network lives in :mod:`energy.models.transformer_net`; data plumbing, training and files in
:mod:`energy.models._neural`. The seed (GPU-sized) spec is ``d_model=256, n_heads=8, n_layers=6,
dim_feedforward=1024``; the defaults here are small enough for a 2-core CPU.
"""

from __future__ import annotations

from typing import ClassVar

from energy.models._neural import NeuralForecaster, shared_search_space
from energy.models.base import ModelConfig, Param
from energy.models.configs import TransformerConfig
from energy.models.transformer_net import TransformerNet, TransformerNetConfig


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
