"""LSTM on Ray Train: DDP over two workers, per-epoch checkpoints, resume, and a worker killed by
its PID mid-run (the run resumes from its last checkpoint and ends where an uninterrupted run
does)."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest
from train_helpers import CUT, TEST, TINY_LSTM, day_ahead, my_train_workers, rows, synthetic_data

from energy.distributed import RaySettings
from energy.distributed.backend import ray_training
from energy.models.base import Forecaster
from energy.models.kinds import create

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


EPOCHS = 6


@pytest.fixture(scope="module")
def data():
    ds = synthetic_data()
    return ds, rows(ds, end=CUT), rows(ds, CUT, TEST)


def fit_on_ray(train, val, settings: RaySettings, **overrides) -> Forecaster:
    model = create("lstm", {**TINY_LSTM, "epochs": EPOCHS, **overrides})
    with ray_training(settings):
        return model.fit(train, val)


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    return tmp_path_factory.mktemp("ray_storage")


@pytest.fixture(scope="module")
def ddp(ray_local, data, storage):
    """An uninterrupted two-worker run (the reference of the worker-kill test)."""
    _, train, val = data
    return fit_on_ray(
        train, val, RaySettings(num_workers=2, storage_path=str(storage), run_name="ddp")
    )


def test_ddp_checkpoints_every_epoch_and_the_model_loads(ddp, data, storage, tmp_path):
    ds, _, _ = data
    model = ddp
    assert [h["epoch"] for h in model.history_] == [float(e) for e in range(1, EPOCHS + 1)]
    assert model.backend_run_["world_size"] == 2 and model.backend_run_["restored_from_epoch"] == 0
    run = storage / "ddp-lstm-1"
    kept = sorted(p.name for p in run.glob("epoch_*"))
    assert kept == [f"epoch_{EPOCHS - 1:04d}", f"epoch_{EPOCHS:04d}"]  # per epoch, last 2 kept
    # the checkpoint's model is a complete forecaster: config, best weights, feature pipeline
    origins = day_ahead(ds)
    expected = model.predict_origins(ds.load, ds.cities, origins, 24)["yhat"].to_numpy()
    from_ckpt = Forecaster.load(run / f"epoch_{EPOCHS:04d}" / "model")
    got = from_ckpt.predict_origins(ds.load, ds.cities, origins, 24)["yhat"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert np.isfinite(expected).all()
    # and the fitted forecaster saves and loads like any other
    again = Forecaster.load(model.save(tmp_path / "saved"))
    np.testing.assert_array_equal(
        again.predict_origins(ds.load, ds.cities, origins, 24)["yhat"].to_numpy(), expected
    )


def test_same_run_name_resumes_from_the_latest_checkpoint(ddp, data, storage):
    _, train, val = data
    settings = RaySettings(num_workers=2, storage_path=str(storage), run_name="ddp")
    more = fit_on_ray(train, val, settings, epochs=EPOCHS + 1)  # continues after the last epoch
    assert more.backend_run_["restored_from_epoch"] == EPOCHS
    assert more.history_[:EPOCHS] == ddp.history_  # those epochs were not trained again
    assert len(more.history_) == EPOCHS + 1


def test_killed_worker_resumes_and_matches_an_uninterrupted_run(ddp, data, tmp_path):
    ds, train, val = data
    settings = RaySettings(
        num_workers=2, storage_path=str(tmp_path), run_name="kill", max_failures=2
    )
    out: dict = {}

    def run() -> None:
        try:
            out["model"] = fit_on_ray(train, val, settings)
        except BaseException as e:  # surfaced by the assertions below
            out["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    run_dir = tmp_path / "kill-lstm-1"
    deadline = time.monotonic() + 120
    # epoch 2's checkpoint being written means epoch 1's was registered by the controller
    while not (run_dir / "epoch_0002").exists():
        assert thread.is_alive() and time.monotonic() < deadline, out.get("error")
        time.sleep(0.02)
    victims = list(my_train_workers())
    assert len(victims) == 2, victims
    victim = victims[-1]
    victim.send_signal(signal.SIGKILL)
    thread.join(timeout=240)
    assert not thread.is_alive()
    assert "error" not in out, out.get("error")
    model = out["model"]

    assert not victim.is_running()
    assert model.backend_run_["restored_from_epoch"] >= 1  # resumed from a checkpoint, not epoch 0
    assert [h["epoch"] for h in model.history_] == [float(e) for e in range(1, EPOCHS + 1)]
    ref_loss = [h["val_loss"] for h in ddp.history_]
    got_loss = [h["val_loss"] for h in model.history_]
    np.testing.assert_allclose(got_loss, ref_loss, rtol=1e-4)
    origins = day_ahead(ds)
    np.testing.assert_allclose(
        model.predict_origins(ds.load, ds.cities, origins, 24)["yhat"].to_numpy(),
        ddp.predict_origins(ds.load, ds.cities, origins, 24)["yhat"].to_numpy(),
        rtol=1e-3,
    )
