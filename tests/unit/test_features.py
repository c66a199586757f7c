"""Feature pipeline: leakage, horizon rule, holidays, DST, persistence, cold start."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from energy.features import FeatureConfig, FeaturePipeline
from energy.features.lags import default_lags

pytestmark = pytest.mark.unit

H = 24
CITIES = pd.DataFrame(
    {
        "city_id": ["bos", "ber", "syd"],
        "name": ["Boston", "Berlin", "Sydney"],
        "country": ["US", "DE", "AU"],
        "subdivision": ["US-MA", "DE-BE", "AU-NSW"],
        "timezone": ["America/New_York", "Europe/Berlin", "Australia/Sydney"],
        "lat": [42.36, 52.52, -33.87],
        "lon": [-71.06, 13.40, 151.21],
        "population": [675_000, 3_645_000, np.nan],
        "area_km2": [232.0, 891.0, 12_368.0],
    }
)
EVENTS = pd.DataFrame(
    {
        "city_id": ["*", "bos", "ber"],
        "start": ["2021-03-03T00:00Z", "2021-03-05T06:30Z", "2021-03-26T00:00Z"],
        "end": ["2021-03-04T00:00Z", "2021-03-05T09:00Z", "2021-03-27T00:00Z"],
        "name": ["final", "outage", "strike"],
        "kind": ["Sport final", "outage", "strike"],
        "direction": ["up", "down", "down"],
    }
)


def make_load(
    start: str = "2021-02-22", days: int = 35, cities=("bos", "ber", "syd"), seed: int = 0
) -> pd.DataFrame:
    """Hourly load (MW) and weather (°C) for a few cities; timestamps UTC, hour-beginning."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    h = np.arange(len(ts))
    frames = []
    for k, c in enumerate(cities):
        temp = 5 + 8 * np.sin(2 * np.pi * h / 24) + rng.normal(0, 1, len(ts))
        load = (1000 * (k + 1)) * (1 + 0.2 * np.sin(2 * np.pi * h / 24)) + rng.normal(
            0, 20, len(ts)
        )
        load[rng.random(len(ts)) < 0.01] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "city_id": c,
                    "timestamp": ts,
                    "load_mw": load,
                    "temperature_c": temp,
                    "dewpoint_c": temp - 3,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def fitted(load: pd.DataFrame, **cfg) -> FeaturePipeline:
    train = load[load["timestamp"] < pd.Timestamp("2021-03-20", tz="UTC")]
    return FeaturePipeline(FeatureConfig(**cfg)).fit(train, CITIES, EVENTS)


def state(pipe: FeaturePipeline, tmp_path, name: str) -> dict:
    return json.loads((pipe.save(tmp_path / name) / "feature_state.json").read_text())


# ---- leakage ------------------------------------------------------------------------------------
def test_fit_reads_only_training_rows(tmp_path):
    full = make_load()
    cut = pd.Timestamp("2021-03-20", tz="UTC")
    before = FeaturePipeline().fit(full[full["timestamp"] < cut], CITIES, EVENTS)
    changed = full.copy()
    after_cut = changed["timestamp"] >= cut
    changed.loc[after_cut, "load_mw"] *= 7.0
    changed.loc[after_cut, "temperature_c"] += 20.0
    again = FeaturePipeline().fit(changed[changed["timestamp"] < cut], CITIES, EVENTS)
    assert state(before, tmp_path, "a") == state(again, tmp_path, "b")
    train_bos = full[(full["timestamp"] < cut) & (full["city_id"] == "bos")]["load_mw"]
    assert before.scale_["bos"] == pytest.approx([train_bos.mean(), train_bos.std()])
    assert before.event_kinds_ == ["Sport final", "outage"]  # the strike is after the cut


@pytest.mark.parametrize("t", ["2021-03-10 00:00", "2021-03-18 13:00", "2021-03-24 23:00"])
def test_features_at_t_ignore_load_after_t_minus_horizon(t):
    full = make_load()
    pipe = fitted(full)
    t = pd.Timestamp(t, tz="UTC")
    perturbed = full.copy()
    late = perturbed["timestamp"] > t - pd.Timedelta(hours=H)
    perturbed.loc[late, "load_mw"] = perturbed.loc[late, "load_mw"] * 3 + 500.0
    base, moved = pipe.transform(full), pipe.transform(perturbed)
    upto = full["timestamp"] <= t
    cols = pipe.feature_names_
    pd.testing.assert_frame_equal(base.loc[upto, cols], moved.loc[upto, cols], check_exact=True)
    # not vacuous: the hour after t already sees a perturbed load 24 h back
    nxt = full["timestamp"] == t + pd.Timedelta(hours=1)
    assert not np.allclose(base.loc[nxt, "load_lag_24h"], moved.loc[nxt, "load_lag_24h"])


def test_lag_shorter_than_horizon_raises():
    with pytest.raises(ValueError, match=r"lag 12 h is shorter than the forecast horizon 24 h"):
        FeatureConfig(horizon=24, lags=(12, 24))
    assert FeatureConfig(horizon=24).lags == (24, 48, 168, 336)
    assert default_lags(48) == (48, 96, 168, 336)
    with pytest.raises(ValueError, match="extra"):
        FeatureConfig(horizn=24)


def test_output_aligned_to_input_order():
    full = make_load(days=20)
    pipe = fitted(full)
    shuffled = full.sample(frac=1.0, random_state=1)
    out = pipe.transform(shuffled)
    assert out.index.equals(shuffled.index)
    ref = pipe.transform(full).loc[shuffled.index]
    pd.testing.assert_frame_equal(out, ref)
    assert list(out.columns) == ["city_id", "timestamp", *pipe.feature_names_, "target"]


# ---- calendar, holidays, events -----------------------------------------------------------------
def _rows(out: pd.DataFrame, city: str, local: str, tz: str) -> pd.DataFrame:
    t = pd.Timestamp(local, tz=tz).tz_convert("UTC")
    return out[(out["city_id"] == city) & (out["timestamp"] == t)]


def test_us_observed_independence_day_and_thanksgiving_bridge():
    cities = pd.concat(
        [
            CITIES.iloc[:1],
            pd.DataFrame(
                {
                    "city_id": ["zz", "xx"],
                    "country": ["US", "XX"],
                    "subdivision": ["US-ZZ", ""],
                    "timezone": ["America/Chicago", "Etc/GMT+5"],
                }
            ),
        ],
        ignore_index=True,
    )
    load = make_load("2020-06-20", days=170, cities=("bos", "zz", "xx"))
    pipe = FeaturePipeline(FeatureConfig(standardize=False)).fit(load, cities)
    assert any("'zz'" in n and "US-ZZ" in n for n in pipe.notes_)
    assert any("'xx'" in n and "no country" in n for n in pipe.notes_)
    out = pipe.transform(load)
    ny = "America/New_York"
    for local in ("2020-07-03 00:00", "2020-07-03 12:00", "2020-07-03 23:00"):
        assert _rows(out, "bos", local, ny)["is_holiday"].item() == 1.0  # July 4th observed
    assert _rows(out, "bos", "2020-07-02 23:00", ny)["is_holiday"].item() == 0.0
    assert _rows(out, "zz", "2020-07-03 12:00", "America/Chicago")["is_holiday"].item() == 1.0
    assert (out.loc[out["city_id"] == "xx", "is_holiday"] == 0).all()
    # Thanksgiving Thu 2020-11-26 → Friday is a bridge day; distances in days, clipped to 7
    fri = _rows(out, "bos", "2020-11-27 12:00", ny)
    assert fri["is_bridge_day"].item() == 1.0 and fri["is_holiday"].item() == 0.0
    assert _rows(out, "bos", "2020-11-24 09:00", ny)["days_to_holiday"].item() == 2.0
    assert _rows(out, "bos", "2020-11-28 09:00", ny)["days_since_holiday"].item() == 2.0
    assert _rows(out, "bos", "2020-08-15 09:00", ny)["days_to_holiday"].item() == 7.0
    assert _rows(out, "bos", "2020-11-25 12:00", ny)["is_bridge_day"].item() == 0.0


def test_supplied_holiday_column_adds_to_calendar():
    load = make_load(days=20)
    ny = "America/New_York"
    t = pd.Timestamp("2021-03-02 15:00", tz=ny).tz_convert("UTC")
    load["is_holiday"] = pd.array([pd.NA] * len(load), dtype="boolean")
    load.loc[(load["city_id"] == "bos") & (load["timestamp"] == t), "is_holiday"] = True
    out = fitted(load).transform(load)
    assert _rows(out, "bos", "2021-03-02 03:00", ny)["is_holiday"].item() == 1.0  # whole local day
    assert _rows(out, "bos", "2021-03-03 03:00", ny)["is_holiday"].item() == 0.0
    assert _rows(out, "ber", "2021-03-02 15:00", "Europe/Berlin")["is_holiday"].item() == 0.0


def test_dst_flag_flips_in_new_york_on_2021_03_14():
    load = make_load("2021-03-01", days=20)
    out = FeaturePipeline().fit(load, CITIES).transform(load)
    bos = out[out["city_id"] == "bos"].set_index("timestamp")
    before, after = (
        pd.Timestamp("2021-03-14 06:00", tz="UTC"),
        pd.Timestamp("2021-03-14 07:00", tz="UTC"),
    )
    assert (bos.loc[before, "is_dst"], bos.loc[before, "hour"]) == (0.0, 1.0)  # 01:00 EST
    assert (bos.loc[after, "is_dst"], bos.loc[after, "hour"]) == (1.0, 3.0)  # 03:00 EDT
    syd = out[out["city_id"] == "syd"]  # southern summer: daylight saving in March
    assert syd.loc[syd["timestamp"] < "2021-03-20", "is_dst"].eq(1.0).all()


def test_events_for_all_cities_and_kinds_seen_in_fit():
    load = make_load()
    pipe = fitted(load)
    out = pipe.transform(load)
    assert "event_sport_final" in out and "event_outage" in out and "event_strike" not in out
    final = out[out["timestamp"] == pd.Timestamp("2021-03-03 12:00", tz="UTC")]
    assert (final["event_sport_final"] == 1).all() and (final["event_direction"] == 1).all()
    outage = out[out["event_outage"] == 1]
    assert set(outage["city_id"]) == {"bos"} and len(outage) == 3  # 06:30–09:00 touches 3 hours
    assert (outage["event_direction"] == -1).all()
    strike = out[(out["city_id"] == "ber") & (out["timestamp"] >= "2021-03-26")].head(24)
    assert (strike["is_event"] == 1).all()  # kind unseen in fit: flag and direction only


# ---- weather, static ----------------------------------------------------------------------------
def test_weather_and_static_features():
    load = make_load(days=20)
    pipe = FeaturePipeline(FeatureConfig(standardize=False, hdh_base_c=15.0)).fit(load, CITIES)
    out = pipe.transform(load)
    temp = load["temperature_c"].to_numpy(np.float32)
    np.testing.assert_allclose(out["hdh"], np.maximum(15.0 - temp, 0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out["temp_sq"], temp.astype(np.float64) ** 2, rtol=1e-5)
    bos = out[out["city_id"] == "bos"].reset_index(drop=True)
    np.testing.assert_allclose(bos["temp_lag_24h"][24:], bos["temperature_c"][:-24], rtol=1e-6)
    assert {"humidity_pct", "thi", "dewpoint_c", "temp_roll_mean_168h"} <= set(out.columns)
    syd = out[out["city_id"] == "syd"].iloc[0]
    assert syd["log_population_missing"] == 1.0
    assert syd["log_population"] == pytest.approx(np.median(np.log1p([675_000, 3_645_000])))
    assert "log_area_km2_missing" not in out
    assert sorted(out.groupby("city_id")["city_code"].first().tolist()) == [0.0, 1.0, 2.0]


def test_weather_column_missing_at_transform_raises():
    load = make_load(days=10)
    pipe = FeaturePipeline().fit(load, CITIES)
    with pytest.raises(ValueError, match="dewpoint_c"):
        pipe.transform(load.drop(columns="dewpoint_c"))


# ---- persistence, cold start, target scale ------------------------------------------------------
def test_save_load_round_trip_identical(tmp_path):
    load = make_load()
    pipe = fitted(load)
    pipe.save(tmp_path / "feat")
    assert sorted(p.name for p in (tmp_path / "feat").iterdir()) == [
        "feature_config.json",
        "feature_state.json",
    ]
    again = FeaturePipeline.load(tmp_path / "feat")
    assert again.config == pipe.config and again.feature_names_ == pipe.feature_names_
    pd.testing.assert_frame_equal(again.transform(load), pipe.transform(load), check_exact=True)


def test_unseen_city_needs_explicit_cold_start():
    load = make_load(days=20)
    pipe = FeaturePipeline().fit(load[load["city_id"] != "syd"], CITIES, EVENTS)
    with pytest.raises(ValueError, match=r"city 'syd' was not seen in fit.*allow_unseen_cities"):
        pipe.transform(load)
    cold = FeaturePipeline(FeatureConfig(allow_unseen_cities=True))
    cold.fit(load[load["city_id"] != "syd"], CITIES, EVENTS)
    out = cold.transform(load)
    syd = out[out["city_id"] == "syd"]
    assert (syd["city_code"] == 2).all()  # one past the fit cities
    mu = np.median([cold.scale_[c][0] for c in ("ber", "bos")])
    sd = np.median([cold.scale_[c][1] for c in ("ber", "bos")])
    raw = load.loc[syd.index, "load_mw"]
    np.testing.assert_allclose(syd["target"], (raw - mu) / sd, rtol=1e-5)


def test_inverse_target_maps_back_to_mw():
    load = make_load(days=10)
    pipe = FeaturePipeline(FeatureConfig(dtype="float64")).fit(load, CITIES)
    out = pipe.transform(load)
    mw = pipe.inverse_target(out["city_id"], out["target"])
    np.testing.assert_allclose(mw, load["load_mw"], rtol=1e-12)
    two_d = pipe.inverse_target(["bos", "ber"], np.zeros((2, 3)))
    assert two_d.shape == (2, 3) and two_d[0, 0] == pytest.approx(pipe.scale_["bos"][0])
