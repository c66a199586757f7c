"""Per-window level normalisation for the sequence networks (imports only torch).

Each window's mean scaled load over its lookback is subtracted from the inputs that are in target
units (the target itself, load lags, rolling means / minima / maxima) and added back to the
forecast, so that a city whose level moved since the training scale was fitted (a new large
customer, say) still looks familiar to the network. The columns travel in the network config.
"""

from __future__ import annotations

import torch
from torch import nn


class LevelNorm(nn.Module):
    """Subtracts the lookback mean of column 0 from ``columns`` of ``past`` and ``future``.

    Args:
        n_past: width of ``past``; ``future`` is assumed to be ``past`` without column 0 when
            ``n_future == n_past - 1`` and otherwise gets no shift.
        n_future: width of ``future``.
        columns: indices into ``past`` in target units; empty (or without 0) = identity.
    """

    def __init__(self, n_past: int, n_future: int, columns: list[int]) -> None:
        super().__init__()
        self.active = 0 in columns
        mask = torch.zeros(n_past)
        mask[list(columns)] = 1.0
        fut = mask[1:] if n_future == n_past - 1 else torch.zeros(n_future)
        # rebuilt from the config, so not part of the state_dict
        self.past_mask: torch.Tensor
        self.future_mask: torch.Tensor
        self.register_buffer("past_mask", mask, persistent=False)
        self.register_buffer("future_mask", fut, persistent=False)

    def forward(
        self, past: torch.Tensor, future: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``past`` (batch, L, n_past), ``future`` (batch, H, n_future) → shifted, plus the level
        ``(batch, 1)`` to add to the ``(batch, H)`` forecast (zeros when inactive)."""
        if not self.active:
            return past, future, past.new_zeros(past.shape[0], 1)
        level = past[:, :, 0].mean(dim=1, keepdim=True)  # (batch, 1)
        past = past - level.unsqueeze(-1) * self.past_mask
        future = future - level.unsqueeze(-1) * self.future_mask
        return past, future, level


def level_columns(columns: list[str]) -> list[int]:
    """Indices of the columns in target units: the target (0), load lags, rolling mean/min/max."""
    prefixes = ("load_lag_", "load_roll_mean_", "load_roll_min_", "load_roll_max_")
    return [0] + [i for i, c in enumerate(columns) if c.startswith(prefixes)]
