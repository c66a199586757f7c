"""PSI/KS against a same-season reference; residual drift (Page–Hinkley, ADWIN); weather bias."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from energy.monitoring import drift
from energy.monitoring.config import DriftConfig

pytestmark = pytest.mark.unit


def test_psi_and_ks_see_a_shift_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(10, 5, 5000)
    assert drift.psi(ref, rng.normal(10, 5, 500)) < 0.05
    assert drift.psi(ref, rng.normal(15, 5, 500)) > 0.5
    d, p = drift.ks(ref, rng.normal(15, 5, 500))
    assert d > 0.3 and p < 1e-6
    assert np.isnan(drift.psi(ref[:3], ref))


def test_same_season_takes_earlier_years_only() -> None:
    t = pd.date_range("2004-01-01", "2008-06-30", freq="h", tz="UTC")
    hist = pd.DataFrame({"city_id": "a", "timestamp": t, "load_mw": 1.0})
    ref = drift.same_season(hist, "2008-05-01", "2008-05-08", season_days=10)
    assert ref["timestamp"].max() < pd.Timestamp("2008-01-01", tz="UTC")
    assert set(ref["timestamp"].dt.month) == {4, 5}
    assert set(ref["timestamp"].dt.year) == {2004, 2005, 2006, 2007}
    winter = drift.same_season(hist, "2008-01-02", "2008-01-09", season_days=10)
    assert set(winter["timestamp"].dt.month) == {12, 1}  # wraps the new year


def test_input_drift_alarms_on_a_biased_input() -> None:
    rng = np.random.default_rng(1)
    t = pd.date_range("2006-01-01", "2008-06-30", freq="h", tz="UTC")
    temp = 15 + 10 * np.sin(2 * np.pi * t.day_of_year / 365) + rng.normal(0, 3, t.size)
    hist = pd.DataFrame({"city_id": "a", "timestamp": t, "temperature_c": temp})
    now = pd.Timestamp("2008-06-20", tz="UTC")
    cur = hist[hist["timestamp"] >= now - pd.Timedelta(days=7)]
    cfg = DriftConfig(columns=("temperature_c",))
    clean = drift.input_drift(cur, hist, now, cfg)
    assert not clean["alarm"].any()
    biased = drift.input_drift(cur.assign(temperature_c=cur["temperature_c"] + 10), hist, now, cfg)
    assert biased["alarm"].all() and biased["psi"].iloc[0] > clean["psi"].iloc[0]


def _residual_frame(r: np.ndarray) -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=r.size, freq="h", tz="UTC")
    return pd.DataFrame(
        {"city_id": "a", "model_version": "1", "target_time": t, "y": 100.0, "value": 100 * (1 - r)}
    )


@pytest.mark.parametrize("detector", ["cusum", "page_hinkley", "adwin"])
def test_residual_drift_finds_a_level_shift(detector: str) -> None:
    rng = np.random.default_rng(2)
    r = rng.normal(0, 0.03, 24 * 20)
    cfg = DriftConfig(residual_detector=detector)
    band = pd.DataFrame(
        [
            {
                "model_version": "1",
                "city_id": "a",
                "metric": "residual",
                "center": 0.0,
                "upper": 0.09,
                "scale": 0.03 / 2,
            }
        ]
    )  # 6 h means of σ 3 %
    assert drift.residual_drift(_residual_frame(r), cfg, bands=band) == []
    r[24 * 10 :] += 0.13  # a +15 % level shift in the load
    (found,) = drift.residual_drift(_residual_frame(r), cfg, bands=band)
    start = pd.Timestamp("2024-01-11", tz="UTC")
    # the band-anchored CUSUM reacts within a day; river's detectors need more evidence
    limit = {"cusum": 24, "page_hinkley": 72, "adwin": 120}[detector]
    assert start <= found.at <= start + pd.Timedelta(hours=limit), found
    assert found.mean_residual > 0.05


def test_weather_bias() -> None:
    t = pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC")
    scored = pd.DataFrame({"city_id": "a", "target_time": t, "temperature_c": 15.0,
                           "temperature_obs": 10.0})  # fmt: skip
    got = drift.weather_bias(scored, t[-1] + pd.Timedelta(hours=1))
    assert got["bias_c"].iloc[0] == pytest.approx(5.0) and got["n"].iloc[0] == 24
    late = scored.assign(temperature_obs=scored["temperature_obs"].where(t < t[24]))
    got = drift.weather_bias(late, t[-1] + pd.Timedelta(hours=1))  # observations lag a day
    assert got["bias_c"].iloc[0] == pytest.approx(5.0) and got["n"].iloc[0] == 24
