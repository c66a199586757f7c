"""Metrics, day-ahead rolling-origin backtests and the K-fold / out-of-time / city-wise schemes."""
