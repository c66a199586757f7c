"""Distributed training on Ray: the only part of ``energy`` that imports Ray.

* :mod:`.cluster`: connect to ``RAY_ADDRESS`` or start a local instance sized to the machine;
* :mod:`.torch_train`: LSTM / Transformer on Ray Train (``TorchTrainer``, DDP, per-epoch
  checkpoints, resume after worker failures);
* :mod:`.xgb_train`: sharded XGBoost on Ray Train (``XGBoostTrainer`` over Ray Data);
* :mod:`.fanout`: per-city models as Ray tasks, several cities per task;
* :mod:`.backend`: ``with ray_training(settings): model.fit(...)`` routes a forecaster's fits there;
* :mod:`.tune`, :mod:`.search_space`: hyper-parameter search with Ray Tune.

The models' own code (``energy.models``) stays Ray-free: the same loop functions run in-process
and inside Ray workers.
"""

from energy.distributed.settings import RaySettings, parse_options

__all__ = ["RaySettings", "parse_options"]
