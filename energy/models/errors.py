"""Why a training run stopped: errors raised by the training loops (torch-free)."""

from __future__ import annotations


class NonFiniteLossError(ValueError):
    """A training or validation loss became NaN or infinite: the weights are no longer usable.

    Raised by :func:`energy.models._torch_loop.fit_loop` and :func:`energy.models.xgb.train_booster`
    before anything is saved, so that NaN weights never reach a package. A ``ValueError``, so the
    CLI prints it as one line; the usual causes are a learning rate too high for the data's scale,
    or non-finite values in the inputs.

    Attributes:
        what: which loss (``train_loss``, ``val_loss``, ``val rmse``).
        epoch: the epoch (neural) or boosting round (XGBoost) it was seen at, 1-based.
        value: the loss value (nan, inf or -inf).
    """

    def __init__(self, model: str, what: str, epoch: int, value: float) -> None:
        super().__init__(model, what, epoch, value)  # args rebuild a pickled copy (Ray)
        self.model, self.what, self.epoch, self.value = model, what, epoch, value

    def __str__(self) -> str:
        return (
            f"{self.model}: {self.what} is {self.value} at epoch {self.epoch}: training stopped "
            "(lower the learning rate, keep gradient clipping on, or check the inputs for "
            "non-finite values)"
        )
