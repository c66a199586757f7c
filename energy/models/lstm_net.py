"""The LSTM network: a stacked LSTM encoder over the lookback and a direct multi-horizon head.

Imports only torch and the torch-only :mod:`energy.models.level_norm` (nanoGPT style):
:class:`LSTMNetConfig` is everything needed to rebuild the network, and it travels with the
weights (``net.json`` next to ``weights.pt``).

Inputs (float32, scaled units; see ``energy.models._neural`` for the column layout)::

    past    (batch, lookback, n_past)    target + covariates of the hours before the origin
    future  (batch, horizon, n_future)   covariates of the forecast hours (no target)
    city    (batch,)                     city index; ``n_cities`` = unseen city (zero embedding)

Output: ``(batch, horizon)`` scaled load, one value per forecast hour. Each step is predicted
from the final encoder state, that step's covariates, a learnt step embedding and the city
embedding, with weights shared across steps (a direct, not recursive, multi-horizon head).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from energy.models.level_norm import LevelNorm


@dataclass
class LSTMNetConfig:
    """Shape of an :class:`LSTMNet`; ``asdict`` of it is the ``net.json`` payload."""

    n_past: int
    n_future: int
    horizon: int
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 32])
    dropout: float = 0.2
    n_cities: int = 0  # 0: no city embedding
    city_embedding_dim: int = 8
    future_dim: int = 16  # width of each step's covariate projection
    step_embedding_dim: int = 8
    head_hidden: int = 64
    level_columns: list[int] = field(default_factory=list)  # see energy.models.level_norm

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LSTMNet(nn.Module):
    """Stacked LSTM (one width per layer) + per-step MLP head over the horizon."""

    def __init__(self, cfg: LSTMNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.level = LevelNorm(cfg.n_past, cfg.n_future, cfg.level_columns)
        sizes = [cfg.n_past, *cfg.hidden_sizes]
        # separate nn.LSTM per layer: nn.LSTM(num_layers=k) forces one width for all layers
        self.layers = nn.ModuleList(
            nn.LSTM(a, b, batch_first=True) for a, b in itertools.pairwise(sizes)
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.city = (
            nn.Embedding(cfg.n_cities + 1, cfg.city_embedding_dim, padding_idx=cfg.n_cities)
            if cfg.n_cities > 0
            else None
        )
        self.future_proj = nn.Linear(cfg.n_future, cfg.future_dim)
        self.step = nn.Embedding(cfg.horizon, cfg.step_embedding_dim)
        n_in = cfg.hidden_sizes[-1] + cfg.future_dim + cfg.step_embedding_dim
        n_in += cfg.city_embedding_dim if self.city is not None else 0
        self.head = nn.Sequential(
            nn.Linear(n_in, cfg.head_hidden),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.head_hidden, 1),
        )

    def forward(
        self,
        past: torch.Tensor,
        future: torch.Tensor,
        city: torch.Tensor,
        future_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scaled load forecasts ``(batch, horizon)``.

        Args:
            past: ``(batch, lookback, n_past)``.
            future: ``(batch, horizon, n_future)``; ``horizon`` may be shorter than the trained one.
            city: ``(batch,)`` int64 city indices.
            future_mask: unused (steps are independent here); accepted for a common signature.
        """
        past, future, level = self.level(past, future)
        x = past
        for i, lstm in enumerate(self.layers):
            x, _ = lstm(x)  # (batch, lookback, hidden_sizes[i])
            if i < len(self.layers) - 1:
                x = self.drop(x)
        state = self.drop(x[:, -1])  # (batch, hidden_sizes[-1])
        b, h = future.shape[0], future.shape[1]
        parts = [
            state.unsqueeze(1).expand(b, h, state.shape[-1]),
            self.future_proj(future),  # (batch, horizon, future_dim)
            self.step.weight[:h].unsqueeze(0).expand(b, h, -1),  # (batch, horizon, step_dim)
        ]
        if self.city is not None:
            parts.append(self.city(city).unsqueeze(1).expand(b, h, -1))
        return self.head(torch.cat(parts, dim=-1)).squeeze(-1) + level  # (batch, horizon)
