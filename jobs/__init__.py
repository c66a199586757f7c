"""Ray job entry points, a few lines each over the library.

* ``jobs.train``: :func:`energy.lifecycle.pipeline.train_and_register`;
* ``jobs.backtest``: :func:`energy.lifecycle.experiment.backtest`;
* ``jobs.tune``: :func:`energy.distributed.tune.tune`.
"""
