"""``BacktestSettings``: the ``backtest:`` section of an experiment config (pydantic, strict).

Settings of the validation schemes that ``energy backtest --scheme`` runs besides the default
rolling-origin backtest; the window itself comes from ``--start`` / ``--end``. Days are UTC days.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BacktestSettings(BaseModel):
    """K-fold, out-of-time and city-wise settings (see :mod:`energy.evaluation.runner`)."""

    model_config = ConfigDict(extra="forbid")
    folds: int = Field(default=5, ge=1)
    """kfold: number of consecutive test windows (folds), each with a freshly fitted model."""
    fold_days: int = Field(default=7, ge=1)
    """kfold without ``--start``: days per test window; with it, the window is cut in ``folds``."""
    mode: Literal["expanding", "sliding"] = "expanding"
    """kfold: train on everything before each window, or on the last ``train_days`` only."""
    train_days: int | None = Field(default=None, ge=1)
    test_days: int = Field(default=28, ge=1)
    """out-of-time and citywise without ``--start``: the last ``test_days`` days of the data."""
    holdout_cities: int = Field(default=1, ge=1)
    """citywise: cities held out per split (each city is held out once)."""
    city_splits: int | None = Field(default=None, ge=1)
    """citywise: how many of the splits to run; default all."""
    with_history: bool = False
    """citywise: show held-out cities' past load (unseen city with history) instead of none."""

    @model_validator(mode="after")
    def _sliding_needs_a_window(self) -> Self:
        if self.mode == "sliding" and self.train_days is None:
            raise ValueError("backtest.train_days: required when backtest.mode is sliding")
        if self.mode == "expanding" and self.train_days is not None:
            raise ValueError("backtest.train_days: only used when backtest.mode is sliding")
        return self
