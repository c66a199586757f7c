"""Hourly electricity-load forecasting for many cities."""

__version__ = "0.1.0"
