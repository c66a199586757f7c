"""``lstm``: a global LSTM forecaster (stacked LSTM encoder + direct multi-horizon head).

The network lives in :mod:`energy.models.lstm_net`; data plumbing, training and files in
:mod:`energy.models._neural`. The seed (GPU-sized) spec is ``hidden_sizes=[128, 64, 32]``,
``dropout=0.2``, ``lookback=168``; the defaults here are small enough for a 2-core CPU.
"""

from __future__ import annotations

from typing import ClassVar

from energy.models._neural import NeuralForecaster, shared_search_space
from energy.models.base import ModelConfig, Param
from energy.models.configs import LSTMConfig
from energy.models.lstm_net import LSTMNet, LSTMNetConfig


class LSTMForecaster(NeuralForecaster):
    """Global LSTM over all cities, with an optional city embedding."""

    kind = "lstm"
    Config: ClassVar[type[ModelConfig]] = LSTMConfig
    config: LSTMConfig
    net_class = LSTMNet
    net_config_class = LSTMNetConfig

    @classmethod
    def search_space(cls) -> dict[str, Param]:
        return {
            **shared_search_space(),
            "hidden_sizes": Param(
                "categorical", choices=([32], [64, 32], [128, 64], [128, 64, 32])
            ),
            "dropout": Param("float", 0.0, 0.4),
            "head_hidden": Param("categorical", choices=(32, 64, 128)),
        }

    def _net_config(
        self, n_past: int, n_future: int, n_cities: int, level: list[int]
    ) -> LSTMNetConfig:
        c = self.config
        return LSTMNetConfig(
            n_past=n_past, n_future=n_future, horizon=c.features.horizon,
            hidden_sizes=list(c.hidden_sizes), dropout=c.dropout, n_cities=n_cities,
            city_embedding_dim=c.city_embedding_dim, future_dim=c.future_dim,
            head_hidden=c.head_hidden, level_columns=level,
        )  # fmt: skip
