"""Baselines: seasonal naive on a hand-made series, the vanilla MLR on data from its own formula."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy import schema
from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.models.base import Forecaster
from energy.models.baselines import SeasonalNaive, VanillaMLR, mlr_column_names, mlr_design

pytestmark = pytest.mark.unit

H = 24
HOUR = pd.Timedelta(hours=1)


def _ramp(days: int = 30) -> Dataset:
    """One synthetic city whose load (MW) at hour ``i`` of the series is exactly ``i``."""
    load, cities, _ = generate(1, days, seed=0)
    load = load.assign(**{schema.LOAD: np.arange(len(load), dtype=np.float64)})
    return Dataset(load=load, cities=cities)


def _origins(ds: Dataset, *idx: int) -> pd.DataFrame:
    t = ds.load[schema.TIME]
    return pd.DataFrame(
        {schema.CITY: ds.city_ids[0], "origin": pd.DatetimeIndex(t.iloc[list(idx)])}
    )


# ---- seasonal naive ----------------------------------------------------------------------------
@pytest.mark.parametrize("season", [24, 168])
def test_seasonal_naive_repeats_the_last_season(season: int) -> None:
    ds = _ramp()
    model = SeasonalNaive({"season_hours": season}).fit(ds)
    o = 400
    pred = model.predict_origins(ds.load, ds.cities, _origins(ds, o), horizon=H)
    t = o + np.arange(H)
    k = np.ceil((t - o + 1) / season)  # smallest k >= 1 with t - k·season < o
    np.testing.assert_array_equal(pred["yhat"], t - k * season)


def test_seasonal_naive_falls_back_a_season_over_masked_hours() -> None:
    ds = _ramp()
    o = 400
    load = ds.load.copy()
    masked = [o - 24, o - 24 + 5, o - 48 + 5]  # step 1 → o-48; step 6 → two seasons back
    load.loc[masked, schema.LOAD] = np.nan
    model = SeasonalNaive({"season_hours": 24}).fit(ds)
    pred = model.predict_origins(load, ds.cities, _origins(ds, o), horizon=H)["yhat"].to_numpy()
    assert pred[0] == o - 48
    assert pred[5] == o + 5 - 72
    assert pred[1] == o + 1 - 24


def test_seasonal_naive_without_a_full_season_uses_the_last_value() -> None:
    ds = _ramp()
    model = SeasonalNaive({"season_hours": 168}).fit(ds)
    short = ds.load.iloc[100:].reset_index(drop=True)  # origin 40 h after the frame starts
    origin = pd.DataFrame({schema.CITY: ds.city_ids[0], "origin": [short[schema.TIME].iloc[40]]})
    pred = model.predict_origins(short, ds.cities, origin, horizon=H)["yhat"]
    assert (pred == 139.0).all()  # the newest load before the origin


def test_seasonal_naive_predict_saves_and_ignores_the_future(tmp_path: Path) -> None:
    load, cities, events = generate(2, 30, seed=1)
    ds = Dataset(load=load, cities=cities, events=events)
    model = SeasonalNaive().fit(ds)
    cut = load[schema.TIME].min() + pd.Timedelta(days=20)
    hist = Dataset(load=load[load[schema.TIME] < cut], cities=cities)
    pred = model.predict(hist, horizon=H)
    assert len(pred) == 2 * H and pred["yhat"].notna().all()
    assert (pred["timestamp"] == cut + (pred["step"] - 1) * HOUR).all()
    assert (pred["weather_source"] == "none").all()
    again = Forecaster.load(model.save(tmp_path / "m")).predict(hist, horizon=H)
    pd.testing.assert_frame_equal(pred, again)
    spiked = load.copy()
    spiked.loc[spiked[schema.TIME] >= cut, schema.LOAD] *= 100
    origins = pd.DataFrame({schema.CITY: ds.city_ids, "origin": cut})
    a = model.predict_origins(load, cities, origins, horizon=H)
    b = model.predict_origins(spiked, cities, origins, horizon=H)
    pd.testing.assert_frame_equal(a, b)


# ---- vanilla MLR -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def formula() -> tuple[Dataset, np.ndarray, VanillaMLR]:
    """A year of one city whose load is exactly the benchmark formula with known coefficients,
    and the model fitted to it."""
    load, cities, _ = generate(1, 366, seed=2)
    tz = cities["timezone"].iloc[0]
    local = pd.DatetimeIndex(load[schema.TIME]).tz_convert(tz)
    trend = np.arange(len(load), dtype=np.float64)
    temp = load[schema.TEMP].to_numpy()
    x = mlr_design(trend, local.month.to_numpy(), local.day_of_week.to_numpy(),
                   local.hour.to_numpy(), temp)  # fmt: skip
    rng = np.random.default_rng(0)
    beta = rng.normal(0.0, 5.0, x.shape[1])
    beta[0], beta[1] = 1000.0, 0.01  # 1000 MW base, +0.01 MW per hour
    names = mlr_column_names()
    for i, n in enumerate(names):  # keep the temperature response in a plausible range
        beta[i] *= {"T": 1.0, "T2": 0.05, "T3": 0.002}.get(n.split("x")[0], 1.0)
    load = load.assign(**{schema.LOAD: x @ beta})
    assert load[schema.LOAD].min() > 0
    ds = Dataset(load=load, cities=cities)
    return ds, beta, VanillaMLR().fit(ds)


def test_mlr_design_columns() -> None:
    n = 5
    x = mlr_design(np.arange(n, dtype=float), np.array([7] * n), np.array([2] * n),
                   np.array([18] * n), np.full(n, 2.0))  # fmt: skip
    names = mlr_column_names()
    assert x.shape == (n, len(names)) == (n, 538)
    row = dict(zip(names, x[0], strict=True))
    assert row["M7xH18"] == row["W2xH18"] == row["M7"] == row["H18"] == 1.0
    assert row["M8xH18"] == row["W1"] == 0.0
    assert row["T3xM7"] == row["T3xH18"] == 8.0


def test_mlr_recovers_known_coefficients(formula: tuple[Dataset, np.ndarray, VanillaMLR]) -> None:
    ds, beta, model = formula
    np.testing.assert_allclose(model.coef_[0], beta, rtol=1e-5, atol=1e-6)
    origins = _origins(ds, 5000, 8000)
    pred = model.predict_origins(ds.load, ds.cities, origins, horizon=H)
    truth = ds.load[schema.LOAD].to_numpy()[[*range(5000, 5000 + H), *range(8000, 8000 + H)]]
    np.testing.assert_allclose(pred["yhat"], truth, rtol=1e-7)


def test_mlr_weather_sources_and_round_trip(
    formula: tuple[Dataset, np.ndarray, VanillaMLR], tmp_path: Path
) -> None:
    ds, _, model = formula
    cut = ds.load[schema.TIME].iloc[6000]
    hist = Dataset(load=ds.load[ds.load[schema.TIME] < cut], cities=ds.cities)
    clim = model.predict(hist, horizon=H)
    assert (clim["weather_source"] == "climatology").all() and clim["yhat"].notna().all()
    future = ds.load[(ds.load[schema.TIME] >= cut) & (ds.load[schema.TIME] < cut + H * HOUR)]
    given = model.predict(hist, horizon=H, future_exog=future.drop(columns=schema.LOAD))
    assert (given["weather_source"] == "supplied").all()
    np.testing.assert_allclose(given["yhat"], future[schema.LOAD], rtol=1e-7)
    loaded = Forecaster.load(model.save(tmp_path / "mlr"))
    assert sorted(p.name for p in (tmp_path / "mlr").iterdir()) == [
        "climatology.json", "mlr.npz", "model.json"
    ]  # fmt: skip
    pd.testing.assert_frame_equal(loaded.predict(hist, horizon=H), clim)


def test_mlr_ignores_load_history_and_refuses_unseen_cities(
    formula: tuple[Dataset, np.ndarray, VanillaMLR],
) -> None:
    ds, _, model = formula
    origins = _origins(ds, 3000)
    spiked = ds.load.assign(**{schema.LOAD: ds.load[schema.LOAD] * 100})
    a = model.predict_origins(ds.load, ds.cities, origins, horizon=H)
    b = model.predict_origins(spiked, ds.cities, origins, horizon=H)
    pd.testing.assert_frame_equal(a, b)
    other = origins.assign(**{schema.CITY: "nowhere"})
    with pytest.raises(ValueError, match="nowhere"):
        model.predict_origins(ds.load, ds.cities, other, horizon=H)
