"""Forecasters: one contract (energy.models.base), many kinds (energy.models.kinds)."""
