"""The training pipeline and the model lifecycle: train, backtest, register, gate, promote."""
