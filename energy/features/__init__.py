"""Feature engineering: calendar, holidays, events, weather, load lags, static covariates, and the
fit-on-train / transform pipeline, plus sequence windows for the neural models."""

from energy.features.config import FeatureConfig
from energy.features.pipeline import FeaturePipeline

__all__ = ["FeatureConfig", "FeaturePipeline"]
