"""energy.evaluation (metrics, rolling, schemes, reporting) with tiny models.

The test forecasters implement the contract in a few lines ("last observed value" and friends), so
every forecast is a known function of the data and each backtest runs in milliseconds.
"""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy import schema
from energy.data.dataset import Dataset
from energy.data.synthetic import generate
from energy.evaluation.reporting import compare, write_backtest
from energy.evaluation.schemes import (
    BacktestResult,
    LeakageError,
    backtest,
    check_leakage,
    citywise,
    day_ahead_origins,
    forecast_origins,
    kfold_backtest,
    mae,
    mape,
    mase,
    metrics_table,
    naive_scale,
    naive_scales,
    out_of_time,
    r2,
    rmse,
)
from energy.models.base import Capabilities, Forecaster

pytestmark = pytest.mark.unit
HOUR = pd.Timedelta(hours=1)


# ---- tiny forecasters ----------------------------------------------------------------------------
class LastValue(Forecaster):
    """Every step = the city's last non-missing load before the origin."""

    kind = "test_last_value"
    lookahead = 0  # hours at/after the origin it (wrongly) reads: 0 for an honest model

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(uses_future_weather=False, global_model=True, min_history_hours=1)

    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        self.rows_ = (len(train.load), 0 if val is None else len(val.load))

    def _last(self, frame: pd.DataFrame, origins: pd.DataFrame, before: int) -> np.ndarray:
        out = np.full(len(origins), np.nan)
        for i, (city, o) in enumerate(origins[[schema.CITY, "origin"]].itertuples(index=False)):
            g = frame[(frame[schema.CITY] == city) & (frame[schema.TIME] < o + before * HOUR)]
            v = g[schema.LOAD].dropna()
            out[i] = v.iloc[-1] if len(v) else np.nan
        return out

    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        return np.repeat(self._last(frame, origins, self.lookahead)[:, None], horizon, axis=1)

    def _save_state(self, path: Path) -> None: ...

    def _load_state(self, path: Path) -> None: ...


class Leaky(LastValue):
    """Reads the load two hours after the origin: breaks the contract."""

    kind = "test_leaky"
    lookahead = 3


class TwoMembers(LastValue):
    """An ensemble-like model: mean of "last" and "day_mean", exposing member_predictions."""

    kind = "test_two_members"

    def member_predictions(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> dict[str, np.ndarray]:
        last = self._last(frame, origins, 0)
        day = np.array(
            [
                frame[
                    (frame[schema.CITY] == c)
                    & (frame[schema.TIME] < o)
                    & (frame[schema.TIME] >= o - 24 * HOUR)
                ][schema.LOAD].mean()
                for c, o in origins[[schema.CITY, "origin"]].itertuples(index=False)
            ]
        )
        return {
            "last": np.repeat(last[:, None], horizon, axis=1),
            "day_mean": np.repeat(day[:, None], horizon, axis=1),
        }

    def combine(self, member_preds: dict[str, np.ndarray]) -> np.ndarray:
        return (member_preds["last"] + member_preds["day_mean"]) / 2

    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        return self.combine(self.member_predictions(frame, cities, origins, horizon))


class Thermometer(LastValue):
    """Forecasts the temperature of each forecast hour (reads future weather, as allowed)."""

    kind = "test_thermometer"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(uses_future_weather=True, global_model=True, min_history_hours=0)

    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        temp = frame.set_index([schema.CITY, schema.TIME])[schema.TEMP]
        out = np.empty((len(origins), horizon))
        for i, (c, o) in enumerate(origins[[schema.CITY, "origin"]].itertuples(index=False)):
            out[i] = [temp[(c, o + s * HOUR)] for s in range(horizon)]
        return out


class ColdStart(LastValue):
    """Population × per-capita load learnt on training cities; refuses cities it trained on."""

    kind = "test_cold_start"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(False, True, 0, supports_unseen_cities=True)

    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        mean = train.load.groupby(schema.CITY)[schema.LOAD].mean()
        pop = train.cities.set_index("city_id")["population"]
        self.per_capita_ = float((mean / pop.reindex(mean.index)).mean())

    def _predict_frame(
        self, frame: pd.DataFrame, cities: pd.DataFrame, origins: pd.DataFrame, horizon: int
    ) -> np.ndarray:
        assert not set(origins[schema.CITY]) & set(self.train_cities_), "held-out city trained on"
        held = frame[frame[schema.CITY].isin(origins[schema.CITY])]
        assert held[schema.LOAD].isna().all(), "held-out load visible"
        pop = cities.set_index("city_id")["population"]
        yhat = origins[schema.CITY].map(pop).to_numpy(np.float64) * self.per_capita_
        return np.repeat(yhat[:, None], horizon, axis=1)


# ---- data ----------------------------------------------------------------------------------------
def _data(n_cities: int = 3, days: int = 40, start: str = "2021-01-01") -> Dataset:
    load, cities, events = generate(n_cities, days, seed=1, start=start)
    return Dataset(load=load, cities=cities, events=events)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return _data()


def _quiet(msg: str) -> None:
    pass


def _no_nan(token: str) -> None:
    raise AssertionError(f"metrics.json holds {token}: not valid JSON")


# ---- metrics -------------------------------------------------------------------------------------
def test_point_metrics_against_hand_computation() -> None:
    y = np.array([100.0, 200.0, np.nan, 0.0])
    f = np.array([110.0, 180.0, 5.0, 1.0])
    assert mape(y, f) == pytest.approx(10.0)  # NaN actual and zero actual skipped
    assert mae(y, f) == pytest.approx((10 + 20 + 1) / 3)
    assert rmse(y, f) == pytest.approx(math.sqrt((100 + 400 + 1) / 3))
    assert r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]) == pytest.approx(0.5)
    assert math.isnan(r2([5.0, 5.0], [5.0, 6.0]))
    assert mase([1.0, 2.0], [2.0, 4.0], scale=3.0) == pytest.approx(0.5)
    assert math.isnan(mase([1.0], [2.0], scale=0.0))
    assert math.isnan(mape([np.nan, 0.0], [1.0, 1.0]))
    with pytest.raises(ValueError, match="lengths"):
        mae([1.0], [1.0, 2.0])


def test_naive_scale_uses_the_hourly_grid() -> None:
    assert naive_scale([1.0, 2.0, 4.0, 7.0], season=1) == pytest.approx(2.0)
    assert naive_scale([1.0, np.nan, 4.0, 7.0], season=1) == pytest.approx(3.0)
    assert math.isnan(naive_scale([1.0, 2.0], season=168))
    ts = pd.date_range("2021-01-01", periods=6, freq="h", tz="UTC")
    load = pd.DataFrame({schema.CITY: "a", schema.TIME: ts, schema.LOAD: np.arange(6.0) ** 2})
    load = load.drop(index=3)  # a missing hour must not pair 2 with 4
    assert naive_scales(load, season=1) == {"a": pytest.approx((1 + 3 + 9) / 3)}


def test_metrics_table_per_city_step_and_member() -> None:
    pred = pd.DataFrame(
        {
            schema.CITY: ["a", "a", "b", "b", "b"],
            "step": [1, 2, 1, 2, 1],
            "y": [100.0, 100.0, 10.0, np.nan, 0.0],
            "yhat": [110.0, 90.0, 15.0, 5.0, 1.0],
            "yhat_m": [100.0, 100.0, 10.0, 5.0, 0.0],
        }
    )
    table = metrics_table(pred, {"a": 5.0, "b": 2.0}, name="ens")
    assert set(table["models"]) == {"ens", "m"}
    ov = table["models"]["ens"]["overall"]
    assert ov["mape"] == pytest.approx((10 + 50) / 2)  # mean of per-city MAPE
    assert ov["mape_pooled"] == pytest.approx((10 + 10 + 50) / 3)
    assert ov["mae"] == pytest.approx(26 / 4)
    assert ov["rmse"] == pytest.approx(math.sqrt(226 / 4))
    assert ov["mase"] == pytest.approx((10 / 5 + 3 / 2) / 2)
    assert ov["r2"] == pytest.approx(1 - 13 / 25)  # city a has constant y: no R²
    assert math.isnan(ov["mase24"])
    assert (ov["n"], ov["n_missing_y"], ov["n_missing_yhat"], ov["n_zero_y"]) == (4, 1, 0, 1)
    city_b = table["models"]["ens"]["per_city"]["b"]
    assert city_b["mape"] == pytest.approx(50.0)
    assert city_b["mase"] == pytest.approx(1.5)
    steps = table["models"]["ens"]["per_step"]
    assert steps[1]["mape"] == pytest.approx(30.0)
    assert steps[2]["mape"] == pytest.approx(10.0)
    assert steps[2]["n_missing_y"] == 1
    assert table["models"]["m"]["overall"]["mape"] == pytest.approx(0.0)


# ---- origins -------------------------------------------------------------------------------------
def _new_york(start: str, days: int) -> Dataset:
    ds = _data(1, days, start)
    ds.cities["timezone"] = "America/New_York"
    return ds


def test_origins_at_local_midnight_across_dst() -> None:
    spring = day_ahead_origins(_new_york("2021-03-01", 30), "2021-03-12", "2021-03-17")
    hours = [o.strftime("%m-%d %H") for o in spring["origin"]]
    assert hours == ["03-12 05", "03-13 05", "03-14 05", "03-15 04", "03-16 04"]
    autumn = day_ahead_origins(_new_york("2021-10-25", 20), "2021-11-06", "2021-11-09")
    hours = [o.strftime("%m-%d %H") for o in autumn["origin"]]
    assert hours == ["11-06 04", "11-07 04", "11-08 05"]
    local = autumn["origin"].dt.tz_convert("America/New_York")
    assert (local.dt.hour == 0).all()


def test_origins_need_the_whole_horizon_and_history() -> None:
    ds = _new_york("2021-03-01", 30)  # 03-01 00:00 … 03-30 23:00 UTC
    o = day_ahead_origins(ds, "2021-02-20", "2021-04-05")
    assert o["origin"].iloc[0] == pd.Timestamp("2021-03-01 05:00", tz="UTC")
    assert o["origin"].iloc[-1] == pd.Timestamp("2021-03-29 04:00", tz="UTC")
    assert len(o) == 29 and o["origin"].dtype == ds.load[schema.TIME].dtype
    aware = day_ahead_origins(ds, pd.Timestamp("2021-03-12 06:00", tz="UTC"), "2021-03-14")
    assert list(aware["origin"].dt.day) == [13]
    assert day_ahead_origins(ds, "2021-05-01", "2021-05-03").empty


# ---- leakage -------------------------------------------------------------------------------------
def _spiked(ds: Dataset, city: str, at: pd.Timestamp) -> Dataset:
    load = ds.load.copy()
    hit = (load[schema.CITY] == city) & load[schema.TIME].between(at, at + 5 * HOUR)
    load.loc[hit, schema.LOAD] = 1e6
    return Dataset(load, ds.cities, ds.events)


@pytest.mark.parametrize("strict", [False, True])
def test_spike_after_origin_does_not_move_the_forecast(data: Dataset, strict: bool) -> None:
    origins = day_ahead_origins(data, "2021-01-30", "2021-01-31")
    city, o = origins.iloc[0]
    train = Dataset(data.load[data.load[schema.TIME] < origins["origin"].min()], data.cities)
    honest, leaky = LastValue().fit(train), Leaky().fit(train)
    spiked = _spiked(data, city, o)  # load at the origin and the 5 hours after it
    run = partial(backtest, start="2021-01-30", end="2021-01-31", strict=strict, progress=None)
    before = run(honest, data).predictions
    after = run(honest, spiked).predictions
    assert np.array_equal(before["yhat"].to_numpy(), after["yhat"].to_numpy())
    assert (after.loc[after[schema.CITY] == city, "y"].head(6) == 1e6).all()  # actuals spiked
    moved = run(leaky, spiked).predictions["yhat"].to_numpy()
    # the leaky model sees the spike only when the table is not masked
    assert (moved == 1e6).any() != strict


def test_check_leakage_catches_a_leaky_model(data: Dataset) -> None:
    origins = day_ahead_origins(data, "2021-01-28", "2021-01-31")
    train = Dataset(data.load[data.load[schema.TIME] < origins["origin"].min()], data.cities)
    assert check_leakage(LastValue().fit(train), data, origins)
    assert check_leakage(TwoMembers().fit(train), data, origins)
    leaky = Leaky().fit(train)
    assert not check_leakage(leaky, data, origins)
    with pytest.raises(LeakageError, match="test_leaky"):
        check_leakage(leaky, data, origins, raise_on_leak=True)


# ---- schemes -------------------------------------------------------------------------------------
def test_backtest_fits_once_before_start_and_reports(data: Dataset) -> None:
    said: list[str] = []
    r = backtest(
        TwoMembers, data, start="2021-02-01", end="2021-02-08", val_days=7, progress=said.append
    )
    pred = r.predictions
    assert list(pred.columns[:6]) == [schema.CITY, "origin", schema.TIME, "step", "y", "yhat"]
    assert {"yhat_last", "yhat_day_mean"} <= set(pred.columns) and r.members
    assert len(pred) == 3 * 7 * 24 and r.info["n_origins"] == 21
    assert pd.Timestamp(r.info["last_fit_row"]) < pred["origin"].min()
    truth = data.load.set_index([schema.CITY, schema.TIME])[schema.LOAD]
    expected = truth.reindex(pd.MultiIndex.from_frame(pred[[schema.CITY, schema.TIME]]))
    np.testing.assert_array_equal(pred["y"].to_numpy(), expected.to_numpy())
    assert set(r.metrics["models"]) == {"test_two_members", "last", "day_mean"}
    assert 0 < r.overall["mape"] < 100 and r.overall["mase"] > 0 and r.overall["mase24"] > 0
    assert any(s.startswith("fitting test_two_members on ") for s in said)
    assert any(s.startswith("predicting 21 origins") for s in said)
    assert r.fit_s >= 0 and r.predict_s > 0


def test_supplied_weather_replaces_forecast_hours_only(data: Dataset) -> None:
    first = data.city_ids[0]
    hours = pd.date_range("2021-01-25", "2021-02-05", freq="h", tz="UTC")
    fc = pd.DataFrame({schema.CITY: first, schema.TIME: hours, schema.TEMP: -7.0})
    for strict in (False, True):
        r = backtest(
            Thermometer(),
            data,
            start="2021-02-01",
            end="2021-02-03",
            weather=fc,
            strict=strict,
            progress=None,
        )
        pred = r.predictions
        assert (pred.loc[pred[schema.CITY] == first, "yhat"] == -7.0).all()
        other = pred[pred[schema.CITY] != first]
        temp = data.load.set_index([schema.CITY, schema.TIME])[schema.TEMP]
        actual = temp.reindex(pd.MultiIndex.from_frame(other[[schema.CITY, schema.TIME]]))
        np.testing.assert_allclose(other["yhat"].to_numpy(), actual.to_numpy())
        assert r.info["weather"] == "supplied forecast"


def test_kfold_has_n_folds_with_disjoint_test_windows(data: Dataset) -> None:
    r = kfold_backtest(
        LastValue, data, n_folds=3, test_days_per_fold=5, val_days=3, progress=_quiet
    )
    assert sorted(r.predictions["fold"].unique()) == ["fold-0", "fold-1", "fold-2"]
    hours = [set(g[schema.TIME]) for _, g in r.predictions.groupby("fold")]
    assert not (hours[0] & hours[1]) and not (hours[1] & hours[2]) and not (hours[0] & hours[2])
    for fold in r.info["folds"]:
        lo, hi = pd.Timestamp(fold["test_start"]), pd.Timestamp(fold["test_end"])
        g = r.predictions[r.predictions["fold"] == fold["fold"]]
        assert g["origin"].min() >= lo and g[schema.TIME].max() < hi
        assert pd.Timestamp(fold["last_fit_row"]) < lo
    assert math.isfinite(r.overall["mase"]) and r.info["n_origins"] == len(
        r.predictions.drop_duplicates([schema.CITY, "origin"])
    )


def test_out_of_time_uses_utc_windows(data: Dataset) -> None:
    r = out_of_time(LastValue(), data, "2021-02-01", "2021-02-08", "2021-02-12", progress=None)
    assert r.predictions["origin"].min() >= pd.Timestamp("2021-02-08", tz="UTC")
    assert r.predictions[schema.TIME].max() < pd.Timestamp("2021-02-12", tz="UTC")
    assert r.info["scheme"] == "out_of_time" and r.overall["n"] > 0


def test_citywise_skips_models_without_cold_start(data: Dataset) -> None:
    r = citywise(LastValue, data, k=1, progress=None)
    assert r.skipped is not None and "supports_unseen_cities" in r.skipped
    assert r.predictions.empty and r.overall == {}


def test_citywise_forecasts_held_out_cities(data: Dataset) -> None:
    r = citywise(ColdStart, data, k=1, n_splits=2, seed=0, test_days=7, progress=None)
    assert r.skipped is None and len(r.info["folds"]) == 2
    for fold in r.info["folds"]:
        got = set(r.predictions.loc[r.predictions["fold"] == fold["fold"], schema.CITY])
        assert got == set(fold["test_cities"])
    assert np.isfinite(r.predictions["yhat"]).all() and r.predictions["y"].notna().all()


# ---- outputs -------------------------------------------------------------------------------------
def test_write_backtest_and_compare(data: Dataset, tmp_path: Path) -> None:
    r = backtest(
        TwoMembers(), data, start="2021-02-01", end="2021-02-05", name="ens", progress=None
    )
    paths = write_backtest(r, tmp_path / "bt")
    names = {p.name for p in paths.values()}
    assert names == {
        "predictions.parquet",
        "metrics.json",
        "metrics.md",
        "forecast_vs_actual.png",
        "mape_by_city.png",
        "error_by_hour.png",
    }
    cols = set(pd.read_parquet(paths["predictions"]).columns)
    assert {schema.CITY, "origin", schema.TIME, "y", "yhat", "yhat_last", "yhat_day_mean"} <= cols
    doc = json.loads(paths["metrics_json"].read_text(), parse_constant=_no_nan)  # strict JSON
    assert doc["metrics"]["models"]["ens"]["overall"]["n"] > 0
    md = paths["metrics_md"].read_text()
    assert "## Overall" in md and "## MAPE per city" in md and "| day_mean |" in md
    for key in ("forecast_vs_actual", "mape_by_city", "error_by_hour"):
        assert paths[key].read_bytes()[:4] == b"\x89PNG"

    skipped = citywise(LastValue, data, progress=None)
    assert "Skipped" in write_backtest(skipped, tmp_path / "skip")["metrics_md"].read_text()
    table = compare({"ens": r, "last": skipped}, members=True)
    assert list(table.index) == ["ens", "ens/last", "ens/day_mean", "last"]
    assert table.loc["ens", "mape"] == pytest.approx(r.overall["mape"])
    assert table.loc["last", "skipped"] and math.isnan(table.loc["last", "mape"])
    assert isinstance(r, BacktestResult) and forecast_origins is not None
