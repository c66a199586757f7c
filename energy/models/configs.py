"""Hyper-parameters of every leaf model kind, importable without torch or xgboost.

Each class is the ``Config`` of one forecaster (``SeasonalNaive.Config is SeasonalNaiveConfig``)
and carries its ``kind``, so :data:`MemberConfig` is a discriminated union: the experiment config
(:mod:`energy.config.experiment`) parses a profile's ``models:`` section into these types once,
and reading a profile never imports a deep-learning or boosting library. Unknown keys are errors
(``extra="forbid"`` from :class:`~energy.models.base.ModelConfig`). Hours are hours of the hourly
grid; loads are MW.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from energy.features.config import FeatureConfig
from energy.features.lags import default_lags
from energy.models.base import ModelConfig

if TYPE_CHECKING:
    from energy.models._torch_loop import LoopConfig


# ---- baselines --------------------------------------------------------------------------------
class SeasonalNaiveConfig(ModelConfig):
    kind: Literal["seasonal_naive"] = "seasonal_naive"
    season_hours: Literal[24, 168] = 168
    """Season length: 24 repeats yesterday, 168 repeats the same hour last week."""


class VanillaMLRConfig(ModelConfig):
    """Tao Hong's benchmark has no hyper-parameters besides the seed."""

    kind: Literal["vanilla_mlr"] = "vanilla_mlr"


# ---- gradient-boosted trees -------------------------------------------------------------------
class XGBoostConfig(ModelConfig):
    """Hyper-parameters; ``features.horizon`` is the longest horizon the model forecasts (hours)."""

    kind: Literal["xgboost"] = "xgboost"
    features: FeatureConfig = FeatureConfig()
    strategy: Literal["shared", "per_step"] = "per_step"
    """``per_step`` won bench/xgb_direct.py on GEFCom2012 day-ahead: 6.79 vs 7.30 % MAPE."""
    step_groups: tuple[int, ...] = (6, 12)
    """``per_step``: last step of each group before the final one, which ends at the horizon."""
    max_depth: int = Field(default=6, ge=1, le=20)
    learning_rate: float = Field(default=0.1, gt=0, le=1)
    n_estimators: int = Field(default=100, ge=1)
    early_stopping_rounds: int | None = Field(default=50, ge=1)
    subsample: float = Field(default=1.0, gt=0, le=1)
    colsample_bytree: float = Field(default=1.0, gt=0, le=1)
    min_child_weight: float = Field(default=1.0, ge=0)
    reg_lambda: float = Field(default=1.0, ge=0)
    val_fraction: float = Field(default=0.1, gt=0, lt=1)
    """Without ``val``: the last fraction of the training span is held out for early stopping."""
    n_jobs: int = Field(default=2, ge=1)
    tree_method: Literal["hist", "approx", "exact"] = "hist"

    @model_validator(mode="after")
    def _check_groups(self) -> Self:
        g = self.step_groups
        if any(b < 1 for b in g) or any(b2 <= b1 for b1, b2 in pairwise(g)):
            raise ValueError(f"step_groups: must be increasing positive steps, got {g}")
        return self

    def group_ends(self) -> list[int]:
        """Last step of every model's group: ``[H]`` for shared, else ``step_groups`` + ``[H]``."""
        h = self.features.horizon
        if self.strategy == "shared":
            return [h]
        return [b for b in self.step_groups if b < h] + [h]

    def features_for(self, end: int) -> FeatureConfig:
        """Feature config of the group ending at step ``end``: lags ``>= end`` only."""
        if end == self.features.horizon:
            return self.features
        lags = sorted({*default_lags(end), *(self.features.lags or ())})
        return self.features.model_copy(update={"horizon": end, "lags": tuple(lags)})


# ---- sequence models --------------------------------------------------------------------------
class NeuralConfig(ModelConfig):
    """Hyper-parameters shared by the sequence models. Defaults are sized for a 2-core CPU.

    ``lookback`` 72 rather than the seed's 168: the load lags (up to two weeks) and rolling
    statistics already carry the weekly pattern, and on GEFCom2012 a 72 h lookback was both more
    accurate for the same CPU time and 3-5× cheaper per window (bench/neural_cpu.py). Batches of
    64 rather than 256 gave four times the updates for about the same CPU time per window and
    lowered day-ahead MAPE from 6.4 to 6.0 % (LSTM) and from 7.4 to 6.5 % (Transformer).
    """

    features: FeatureConfig = FeatureConfig()
    lookback: int = Field(default=72, ge=1, description="hours of history per window (L)")
    batch_size: int = Field(default=64, ge=1, description="windows per optimiser step")
    epochs: int = Field(default=10, ge=1, description="maximum epochs")
    lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    patience: int = Field(default=3, ge=0, description="early stopping; 0 = never stop early")
    scheduler: Literal["plateau", "cosine", "none"] = "plateau"
    loss: Literal["mse", "l1", "huber"] = Field(default="l1", description="on scaled load")
    grad_clip: float | None = Field(default=1.0, gt=0)
    max_train_windows_per_epoch: int | None = Field(
        default=16_384, ge=1, description="random windows drawn per epoch; None = all"
    )
    stride: int = Field(default=1, ge=1, description="hours between training window starts")
    val_stride: int = Field(default=4, ge=1, description="hours between validation windows")
    num_threads: int = Field(default=1, ge=1, description="torch intra-op threads")
    use_city_embedding: bool = True
    normalize_level: bool = Field(
        default=True, description="subtract each window's mean load (see models.level_norm)"
    )
    device: str = "cpu"

    def loop_config(self) -> LoopConfig:
        from energy.models._torch_loop import LoopConfig  # torch: only when training

        return LoopConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
            weight_decay=self.weight_decay, patience=self.patience, scheduler=self.scheduler,
            grad_clip=self.grad_clip, loss=self.loss, seed=self.seed,
            max_train_windows_per_epoch=self.max_train_windows_per_epoch,
            num_threads=self.num_threads, device=self.device,
        )  # fmt: skip


class LSTMConfig(NeuralConfig):
    """LSTM hyper-parameters (plus the shared ones of :class:`NeuralConfig`)."""

    kind: Literal["lstm"] = "lstm"
    hidden_sizes: list[int] = Field(
        default_factory=lambda: [64, 32], description="LSTM width per stacked layer"
    )
    dropout: float = Field(default=0.2, ge=0, lt=1)
    head_hidden: int = Field(default=64, ge=1, description="width of the per-step MLP head")
    future_dim: int = Field(default=16, ge=1, description="projection of each step's covariates")
    city_embedding_dim: int = Field(default=8, ge=1)
    # an LSTM window is ~4x cheaper than a Transformer one on CPU: twice the windows per epoch
    max_train_windows_per_epoch: int | None = Field(
        default=32_768, ge=1, description="random windows drawn per epoch; None = all"
    )

    @field_validator("hidden_sizes")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(s < 1 for s in v):
            raise ValueError("hidden_sizes: one or more positive layer widths")
        return v


class TransformerConfig(NeuralConfig):
    """Transformer hyper-parameters (plus the shared ones of :class:`NeuralConfig`)."""

    kind: Literal["transformer"] = "transformer"
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


# ---- ensemble weighting ------------------------------------------------------------------------
class EnsembleWeighting(BaseModel):
    """How an ensemble weights its members: the ``ensemble`` kind's settings besides its members
    and horizon (:class:`energy.models.ensemble.EnsembleConfig`), and a profile's ``ensemble:``."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["mean", "inverse_error", "stacking"] = "mean"
    per_step: bool = True
    """One weight row per horizon step (else one row for every step)."""
    error_metric: Literal["mae", "mse"] = "mae"
    stacking_folds: int = Field(default=2, ge=1)
    stacking_fold_days: int = Field(default=14, ge=1)
    val_days: int = Field(default=28, ge=1)
    """Days at the end of ``train`` that weight ``inverse_error`` when ``fit`` gets no ``val``."""
    nonneg: bool = True
    """Stacking weights ≥ 0 (NNLS); False → ordinary least squares."""
    sum_to_one: bool = True
    """Normalise stacking weights to sum to one."""


# ---- the union ----------------------------------------------------------------------------------
AnyMemberConfig = (
    SeasonalNaiveConfig | VanillaMLRConfig | XGBoostConfig | LSTMConfig | TransformerConfig
)
#: One model of an experiment; the ``kind`` key picks the class.
MemberConfig = Annotated[AnyMemberConfig, Field(discriminator="kind")]
#: kind → its config class, for every kind :data:`MemberConfig` accepts.
MEMBER_CONFIGS: dict[str, type[ModelConfig]] = {
    c.model_fields["kind"].default: c
    for c in (SeasonalNaiveConfig, VanillaMLRConfig, XGBoostConfig, LSTMConfig, TransformerConfig)
}
