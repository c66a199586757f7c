"""The training pipeline and the model lifecycle: train, backtest, register, gate, promote.

* :mod:`.pipeline`: :func:`~.pipeline.train_and_register`, the one training entry point;
* :mod:`.experiment`: the model a config describes, reading the data, ``energy backtest``;
* :mod:`.promotion`: the evaluation protocol and the pure gate;
* :mod:`.champion`: register, gate and roll back registered versions (the ``champion`` alias).
"""
