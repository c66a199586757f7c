"""LSTM and Transformer forecasters and their Ray-free training loop, at tiny sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from energy import schema
from energy.data import synthetic
from energy.data.dataset import Dataset
from energy.features import FeatureConfig
from energy.features.windows import SequenceWindows
from energy.models import _torch_loop as loop
from energy.models.base import Forecaster
from energy.models.kinds import create
from energy.models.lstm import LSTMForecaster
from energy.models.lstm_net import LSTMNet, LSTMNetConfig
from energy.models.transformer import TransformerForecaster

pytestmark = pytest.mark.unit

H = 24
CUT = pd.Timestamp("2020-02-05", tz="UTC")  # train before, validation for 4 days after
TEST = CUT + pd.Timedelta(days=4)  # forecasts from here on
FEATURES = FeatureConfig(lags=(24, 48, 168), rolling_windows=(24,), temp_rolling_windows=(24,))
SHARED = {"features": FEATURES.model_dump(), "lookback": 48, "epochs": 2, "batch_size": 64,
          "max_train_windows_per_epoch": 256, "val_stride": 12}  # fmt: skip
TINY = {
    "lstm": {**SHARED, "hidden_sizes": [8], "head_hidden": 8, "future_dim": 4},
    "transformer": {**SHARED, "d_model": 8, "n_heads": 2, "n_layers": 1, "dim_feedforward": 16},
}


@pytest.fixture(scope="module")
def data() -> Dataset:
    load, cities, events = synthetic.generate(2, 45, seed=0)
    return Dataset(load=load, cities=cities, events=events)


def rows(ds: Dataset, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None):
    """The rows of ``ds`` in ``[start, end)`` (UTC); None: unbounded."""
    t = ds.load[schema.TIME]
    keep = pd.Series(True, index=t.index)
    keep &= t >= start if start is not None else keep
    keep &= t < end if end is not None else keep
    return Dataset(load=ds.load[keep].reset_index(drop=True), cities=ds.cities, events=ds.events)


@pytest.fixture(scope="module", params=["lstm", "transformer"])
def fitted(request: pytest.FixtureRequest, data: Dataset) -> Forecaster:
    model = create(request.param, TINY[request.param])
    return model.fit(rows(data, end=CUT), rows(data, CUT, TEST))


def origins_at(ds: Dataset, times: list[pd.Timestamp]) -> pd.DataFrame:
    return pd.DataFrame(
        [(c, t) for c in ds.city_ids for t in times], columns=[schema.CITY, "origin"]
    )


def test_predict_after_history_shapes_timestamps(fitted: Forecaster, data: Dataset) -> None:
    history = rows(data, end=TEST)
    pred = fitted.predict(history, horizon=H)
    assert len(pred) == len(data.city_ids) * H and not pred["yhat"].isna().any()
    assert set(pred["origin"]) == {TEST} and set(pred["weather_source"]) == {"climatology"}
    steps = pd.to_timedelta(pred["step"] - 1, unit="h")
    assert (pred["timestamp"] == pred["origin"] + steps).all()
    # a supplied weather forecast is used and reported as such
    weather = [c for c in schema.WEATHER_COLUMNS if c in data.load]
    exog = rows(data, TEST, TEST + pd.Timedelta(hours=H)).load[[schema.CITY, schema.TIME, *weather]]
    supplied = fitted.predict(history, horizon=H, future_exog=exog)
    assert set(supplied["weather_source"]) == {"supplied"}
    assert not np.allclose(supplied["yhat"], pred["yhat"])
    # forecasts are in MW: the right order of magnitude for each city
    level = data.load.groupby(schema.CITY)[schema.LOAD].mean()
    ratio = pred.groupby(schema.CITY)["yhat"].mean() / level
    assert ratio.between(0.5, 2.0).all()


def test_predict_origins_vectorised_and_horizon_limit(fitted: Forecaster, data: Dataset) -> None:
    times = list(pd.date_range(TEST, periods=8, freq="7h"))
    origins = origins_at(data, times)
    pred = fitted.predict_origins(data.load, data.cities, origins, horizon=H)
    assert len(pred) == len(origins) * H and np.isfinite(pred["yhat"]).all()
    short = fitted.predict_origins(data.load, data.cities, origins, horizon=6)
    assert len(short) == len(origins) * 6 and np.isfinite(short["yhat"]).all()
    with pytest.raises(ValueError, match="trained for 24 h"):
        fitted.predict_origins(data.load, data.cities, origins, horizon=48)


def test_save_load_round_trip_identical(fitted: Forecaster, data: Dataset, tmp_path) -> None:
    origins = origins_at(data, [TEST, TEST + pd.Timedelta(hours=5)])
    before = fitted.predict_origins(data.load, data.cities, origins, horizon=H)
    path = fitted.save(tmp_path / "m")
    assert {"weights.pt", "net.json", "features", "model.json"} <= {p.name for p in path.iterdir()}
    loaded = Forecaster.load(path)
    assert type(loaded) is type(fitted)
    after = loaded.predict_origins(data.load, data.cities, origins, horizon=H)
    np.testing.assert_array_equal(before["yhat"].to_numpy(), after["yhat"].to_numpy())


def test_load_at_or_after_the_origin_is_never_read(fitted: Forecaster, data: Dataset) -> None:
    origin = TEST + pd.Timedelta(hours=3)
    origins = origins_at(data, [origin - pd.Timedelta(hours=30), origin])
    clean = fitted.predict_origins(data.load, data.cities, origins, horizon=H)
    spiked = data.load.copy()
    later = spiked[schema.TIME] >= origin
    spiked.loc[later, schema.LOAD] = spiked.loc[later, schema.LOAD] * 1000 + 1e6
    dirty = fitted.predict_origins(spiked, data.cities, origins, horizon=H)
    np.testing.assert_array_equal(clean["yhat"].to_numpy(), dirty["yhat"].to_numpy())


def test_history_gaps_still_give_forecasts(fitted: Forecaster, data: Dataset) -> None:
    load = data.load
    t = load[schema.TIME]
    gap = (t >= TEST - pd.Timedelta(hours=30)) & (t < TEST - pd.Timedelta(hours=10))
    holey = load[~gap].copy()
    holey.loc[holey[schema.TIME] == TEST - pd.Timedelta(hours=2), schema.LOAD] = np.nan
    pred = fitted.predict_origins(holey, data.cities, origins_at(data, [TEST]), horizon=H)
    assert len(pred) == len(data.city_ids) * H and np.isfinite(pred["yhat"]).all()


def test_same_seed_same_model(data: Dataset) -> None:
    train, val = rows(data, end=CUT), rows(data, CUT, TEST)
    a = LSTMForecaster({**TINY["lstm"], "epochs": 1}).fit(train, val)
    b = LSTMForecaster({**TINY["lstm"], "epochs": 1}).fit(train, val)
    origins = origins_at(data, [TEST])
    pa = a.predict_origins(data.load, data.cities, origins, horizon=H)
    pb = b.predict_origins(data.load, data.cities, origins, horizon=H)
    np.testing.assert_array_equal(pa["yhat"].to_numpy(), pb["yhat"].to_numpy())


@pytest.mark.parametrize("cls", [LSTMForecaster, TransformerForecaster])
def test_config_and_search_space(cls: type[Forecaster]) -> None:
    with pytest.raises(ValidationError):
        cls({"no_such_field": 1})
    space = cls.search_space()
    assert {"lr", "batch_size", "lookback", "dropout"} <= set(space)
    for name, p in space.items():  # every corner of the space is a valid config
        values = list(p.choices or ()) if p.kind == "categorical" else [p.low, p.high]
        for v in values:
            v = int(v) if p.kind == "int" else v  # type: ignore[arg-type]
            assert getattr(cls({name: v}).config, name) == v
    assert not TransformerForecaster.search_space()["lr"].as_dict().get("choices")
    with pytest.raises(ValidationError, match="divisible"):
        TransformerForecaster({"d_model": 30, "n_heads": 4})


# ---- the training loop ----------------------------------------------------------------------
L, N_PAST = 12, 3


def toy_windows(n_hours: int = 200, seed: int = 0) -> SequenceWindows:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2021-01-01", periods=n_hours, freq="h", tz="UTC")
    x = rng.normal(size=n_hours).astype(np.float32)
    frame = pd.DataFrame(
        {"city_id": "c0", "timestamp": ts, "target": np.sin(np.arange(n_hours) / 4) + 0.1 * x,
         "load_lag_24h": np.roll(x, 24), "hour_sin": np.sin(np.arange(n_hours) / 24 * 2 * np.pi)}
    )  # fmt: skip
    return SequenceWindows.from_frame(
        frame, lookback=L, horizon=4, past_columns=[], future_columns=["load_lag_24h", "hour_sin"]
    )


def toy_net() -> LSTMNet:
    torch.manual_seed(0)
    return LSTMNet(LSTMNetConfig(n_past=N_PAST, n_future=N_PAST - 1, horizon=4, hidden_sizes=[8],
                                 dropout=0.3, head_hidden=8, n_cities=1))  # fmt: skip


def test_make_loader_samples_a_fresh_subset_each_epoch() -> None:
    ds = toy_windows()
    loader = loop.make_loader(ds, batch_size=4, shuffle=True, seed=1, sample=10)
    first = torch.cat([b[2][:, 0] for b in loader])
    second = torch.cat([b[2][:, 0] for b in loader])
    assert len(first) == len(second) == 10 and not torch.equal(first, second)
    again = loop.make_loader(ds, batch_size=4, shuffle=True, seed=1, sample=10)
    assert torch.equal(first, torch.cat([b[2][:, 0] for b in again]))
    ordered = loop.make_loader(ds, batch_size=len(ds), shuffle=False, seed=1)
    assert len(next(iter(ordered))[0]) == len(ds)


def test_early_stopping_stops_and_keeps_the_best_weights() -> None:
    ds, net = toy_windows(), toy_net()
    cfg = loop.LoopConfig(epochs=20, batch_size=16, lr=1e-9, patience=2, min_delta=1e-3)
    seen: list[int] = []
    state = loop.fit_loop(net, ds, ds, cfg, on_epoch_end=lambda e, m, f: seen.append(e))
    assert seen == [1, 2, 3] and state["stopped_early"] and state["best_epoch"] == 1
    assert all(torch.equal(v, state["best_model"][k]) for k, v in net.state_dict().items())


def test_resume_continues_at_the_next_epoch_with_the_same_result() -> None:
    train, val = toy_windows(seed=0), toy_windows(seed=1)
    cfg = loop.LoopConfig(epochs=3, batch_size=8, lr=1e-2, patience=0,
                          max_train_windows_per_epoch=64, scheduler="cosine")  # fmt: skip
    saved: dict = {}

    def keep_epoch_1(epoch: int, metrics: dict, state_fn) -> None:
        assert set(metrics) >= {"train_loss", "val_loss", "lr", "epoch_s"}
        if epoch == 1:
            saved.update(state_fn())

    full = loop.fit_loop(toy_net(), train, val, cfg, on_epoch_end=keep_epoch_1)
    assert saved["epoch"] == 1 and len(saved["history"]) == 1
    calls: list[int] = []
    resumed_net = toy_net()
    resumed = loop.fit_loop(
        resumed_net, train, val, cfg, start_state=saved,
        on_epoch_end=lambda e, m, f: calls.append(e),
    )  # fmt: skip
    assert calls == [2, 3] and resumed["epoch"] == 3
    assert [h["val_loss"] for h in resumed["history"]] == [h["val_loss"] for h in full["history"]]
    for k, v in full["model"].items():
        torch.testing.assert_close(resumed["model"][k], v, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_level_norm_makes_forecasts_shift_equivariant(kind: str) -> None:
    """Adding c to every input in target units adds c to the forecast (a level shift)."""
    from energy.models.transformer_net import TransformerNet, TransformerNetConfig

    torch.manual_seed(0)
    level = [0, 2]  # past columns in target units: the target and one load lag
    net = (
        LSTMNet(LSTMNetConfig(n_past=4, n_future=3, horizon=5, hidden_sizes=[8], n_cities=2,
                              level_columns=level))
        if kind == "lstm"
        else TransformerNet(TransformerNetConfig(n_past=4, horizon=5, d_model=8, n_heads=2,
                                                 n_layers=1, n_cities=2, level_columns=level))
    ).eval()  # fmt: skip
    past, future, city = torch.randn(3, 7, 4), torch.randn(3, 5, 3), torch.tensor([0, 1, 2])
    shifted_past, shifted_future = past.clone(), future.clone()
    shifted_past[:, :, level] += 10.0
    shifted_future[:, :, [c - 1 for c in level if c]] += 10.0
    with torch.no_grad():
        base, moved = net(past, future, city), net(shifted_past, shifted_future, city)
    torch.testing.assert_close(moved, base + 10.0, rtol=0, atol=1e-4)
