"""The Transformer network: an encoder over lookback tokens followed by horizon tokens.

Imports only torch and the torch-only :mod:`energy.models.level_norm` (nanoGPT style):
:class:`TransformerNetConfig` rebuilds the network and travels with the weights (``net.json`` next
to ``weights.pt``).

Inputs (float32, scaled units) share one column layout, ``future`` being ``past`` without its
first column (the target)::

    past    (batch, lookback, n_past)     [target, covariates...] of the hours before the origin
    future  (batch, horizon, n_past - 1)  [covariates...] of the forecast hours
    city    (batch,)                      city index; ``n_cities`` = unseen city (zero embedding)

Every hour becomes one token ``[target or 0, covariates..., is_horizon]`` (the target slot of a
horizon token is zero and flagged), projected to ``d_model``, plus a sinusoidal position encoding
and the city embedding; calendar features in the covariates give absolute time. A bidirectional
encoder mixes all tokens; a linear head reads the horizon tokens → ``(batch, horizon)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from energy.models.level_norm import LevelNorm


@dataclass
class TransformerNetConfig:
    """Shape of a :class:`TransformerNet`; ``asdict`` of it is the ``net.json`` payload."""

    n_past: int
    horizon: int
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 2
    dim_feedforward: int = 64
    dropout: float = 0.1
    n_cities: int = 0  # 0: no city embedding
    level_columns: list[int] = field(default_factory=list)  # see energy.models.level_norm

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sinusoidal_positions(n: int, d_model: int) -> torch.Tensor:
    """Vaswani et al. position encoding ``(n, d_model)``; position 0 = first lookback hour."""
    pos = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(1e4) / d_model))
    pe = torch.zeros(n, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)[:, : d_model // 2]
    return pe


class TransformerNet(nn.Module):
    """Pre-norm Transformer encoder over ``lookback + horizon`` hourly tokens."""

    def __init__(self, cfg: TransformerNetConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.n_heads:
            raise ValueError(f"d_model {cfg.d_model} is not divisible by n_heads {cfg.n_heads}")
        self.cfg = cfg
        self.level = LevelNorm(cfg.n_past, cfg.n_past - 1, cfg.level_columns)
        self.embed = nn.Linear(cfg.n_past + 1, cfg.d_model)  # +1: the is_horizon flag
        self.city = (
            nn.Embedding(cfg.n_cities + 1, cfg.d_model, padding_idx=cfg.n_cities)
            if cfg.n_cities > 0
            else None
        )
        self.drop = nn.Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model,
            cfg.n_heads,
            cfg.dim_feedforward,
            cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        # no nested-tensor fast path: the same numbers in train and eval, with or without masks
        self.encoder = nn.TransformerEncoder(
            layer, cfg.n_layers, norm=nn.LayerNorm(cfg.d_model), enable_nested_tensor=False
        )
        self.head = nn.Linear(cfg.d_model, 1)

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
            future: ``(batch, horizon, n_past - 1)``.
            city: ``(batch,)`` int64 city indices.
            future_mask: ``(batch, horizon)`` bool, False = hour absent (no covariates, e.g.
                beyond the requested horizon): other tokens do not attend to it.
        """
        past, future, level = self.level(past, future)
        b, lookback, _ = past.shape
        h = future.shape[1]
        zeros = future.new_zeros(b, h, 1)
        tokens = torch.cat(
            [
                torch.cat([past, past.new_zeros(b, lookback, 1)], dim=-1),
                torch.cat([zeros, future, zeros + 1.0], dim=-1),
            ],
            dim=1,
        )  # (batch, lookback + horizon, n_past + 1)
        x = self.embed(tokens)  # (batch, L + H, d_model)
        x = x + sinusoidal_positions(lookback + h, self.cfg.d_model).to(x.device)
        if self.city is not None:
            x = x + self.city(city).unsqueeze(1)
        pad = None
        if future_mask is not None:
            pad = torch.cat([future_mask.new_ones(b, lookback), future_mask], dim=1).logical_not()
        x = self.encoder(self.drop(x), src_key_padding_mask=pad)  # (batch, L + H, d_model)
        return self.head(x[:, lookback:]).squeeze(-1) + level  # (batch, horizon)
