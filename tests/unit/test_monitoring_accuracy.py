"""Rolling accuracy, horizon buckets, bands and the sustained-degradation rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from energy.monitoring import accuracy
from energy.monitoring.config import AccuracyConfig

pytestmark = pytest.mark.unit


def _scored(hours: int, err: np.ndarray, version: str = "1") -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=hours, freq="h", tz="UTC")
    y = np.full(hours, 100.0)
    return pd.DataFrame({
        "city_id": "a", "model_version": version, "target_time": t,
        "origin": t.floor("D"), "step": (np.arange(hours) % 24) + 1,
        "y": y, "value": y * (1 - err),
    })  # fmt: skip


def test_bucket_labels() -> None:
    got = accuracy.bucket_labels(pd.Series([1, 6, 7, 24, 25, 200]), (6, 12, 24, 48, 168))
    assert got.tolist() == ["1-6", "1-6", "7-12", "13-24", "25-48", ">168"]


def test_rolling_accuracy_windows_and_band() -> None:
    scored = _scored(48, np.full(48, 0.05))
    now = scored["target_time"].max() + pd.Timedelta(hours=1)
    bands = pd.DataFrame([{"model_version": "1", "city_id": "*", "metric": "mape", "upper": 8.0}])
    table = accuracy.rolling_accuracy(
        scored, now, AccuracyConfig(windows_h=(24, 48), window_h=24), bands
    )
    row = table.query("window_h == 24 and city_id == 'a' and bucket == 'all' and metric == 'mape'")
    assert row["value"].iloc[0] == pytest.approx(5.0) and row["n"].iloc[0] == 24
    assert row["band_upper"].iloc[0] == 8.0  # city falls back to the version's "*" band
    assert set(table["bucket"]) >= {"all", "1-6", "13-24"}


def test_degradation_needs_a_sustained_breach() -> None:
    cfg = AccuracyConfig(window_h=24, sustain_h=12, min_points=12)
    bands = pd.DataFrame([{"model_version": "1", "city_id": "a", "metric": "mape", "upper": 8.0}])
    clean = np.full(24 * 5, 0.05)
    assert accuracy.degradations(_scored(120, clean), bands, cfg) == []
    spike = clean.copy()
    spike[100:102] = 0.3  # a short spike stays inside the band over a 24 h window
    assert accuracy.degradations(_scored(120, spike), bands, cfg) == []
    shifted = clean.copy()
    shifted[72:] = 0.15
    (d,) = accuracy.degradations(_scored(120, shifted), bands, cfg)
    assert d.city_id == "a" and d.hours >= 12 and d.value == pytest.approx(15.0)
    assert "above the backtest band 8.00" in d.message()


def test_bands_from_backtest_and_registry() -> None:
    rng = np.random.default_rng(0)
    t = pd.date_range("2024-01-01", periods=24 * 30, freq="h", tz="UTC")
    y = 100 + 10 * rng.standard_normal(t.size)
    pred = pd.DataFrame({"city_id": "a", "timestamp": t, "y": y, "yhat": y * 1.05})
    rows = accuracy.band_from_backtest(pred, 24, quantile=0.99, floor_factor=1.0)
    city = {r[0]: r for r in rows}
    assert city["a"][2] == pytest.approx(city["a"][3], rel=0.05)  # constant 5 % error
    (_, _, mid, upper) = accuracy.band_from_backtest(pred, 24)[0]
    assert upper == pytest.approx(1.5 * mid)  # a short backtest's percentile gets a floor
    reg = {"overall": {"mape": 6.0}, "per_city": {"a": {"mape": 5.0}}}
    assert accuracy.band_from_registry(reg, 2.0) == [("*", "mape", 6.0, 12.0),
                                                     ("a", "mape", 5.0, 10.0)]  # fmt: skip
