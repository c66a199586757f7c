"""Entry points submitted to a Ray cluster (train, tune, backtest, retrain schedules)."""
