"""energy.data.cleaning: regular grid, gaps, anomalies, level shifts and the quality report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from energy.data.cleaning import QUALITY_CODES, CleaningConfig, clean, format_report
from energy.schema import SchemaError

pytestmark = pytest.mark.unit

START = pd.Timestamp("2021-01-04", tz="UTC")  # a Monday
H = pd.Timedelta(hours=1)


def _load(
    cities: tuple[str, ...] = ("a",), days: int = 56, start: pd.Timestamp = START, seed: int = 0
) -> pd.DataFrame:
    """Hourly load with a daily sine (80–120 MW) and 1 % noise; temperature a slower sine (°C).
    Rows are shuffled and the index is not a RangeIndex, to catch order-dependent code."""
    ts = pd.date_range(start, periods=days * 24, freq="h")
    rng = np.random.default_rng(seed)
    frames = []
    for i, city in enumerate(cities):
        daily = 100 + 20 * np.sin(2 * np.pi * (ts.hour.to_numpy() - 8) / 24)
        frames.append(
            pd.DataFrame(
                {
                    "city_id": city,
                    "timestamp": ts,
                    "load_mw": daily * (1 + 0.01 * rng.standard_normal(len(ts))) * (i + 1),
                    "temperature_c": 10 + 8 * np.sin(2 * np.pi * np.arange(len(ts)) / 24 / 3),
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    order = np.random.default_rng(seed + 1).permutation(len(df))
    return df.iloc[order].set_index(np.arange(len(df)) * 3 + 1)


def _cities(ids: tuple[str, ...] = ("a",), tz: str = "UTC") -> pd.DataFrame:
    return pd.DataFrame({"city_id": list(ids), "country": "US", "timezone": tz})


def _at(df: pd.DataFrame, ts: pd.Timestamp, city: str = "a") -> pd.Series:
    row = df[(df["city_id"] == city) & (df["timestamp"] == ts)]
    assert len(row) == 1, f"{city} {ts}: {len(row)} rows"
    return row.iloc[0]


def _drop(df: pd.DataFrame, start: pd.Timestamp, hours: int, city: str = "a") -> pd.DataFrame:
    gone = (df["city_id"] == city) & df["timestamp"].between(start, start + (hours - 1) * H)
    assert gone.sum() == hours
    return df[~gone]


def _set(df: pd.DataFrame, ts: pd.Timestamp, col: str, value: float, city: str = "a"):
    df = df.copy()
    df.loc[(df["city_id"] == city) & (df["timestamp"] == ts), col] = value
    return df


def _flagged(out: pd.DataFrame, code: str) -> list[pd.Timestamp]:
    return sorted(out.loc[out["quality"] == code, "timestamp"])


# ---- grid and gaps ------------------------------------------------------------------------------
def test_clean_data_is_untouched_and_regular() -> None:
    df = _load(("a", "b"))
    out, rep = clean(df, _cities(("a", "b")))
    assert len(out) == len(df)
    assert (out["quality"] == "").all()
    assert rep["summary"]["outliers"] == 0 and rep["level_shifts"] == []
    assert list(out.columns) == [*df.columns, "load_raw_mw", "quality"]
    assert str(out["timestamp"].dtype) == "datetime64[us, UTC]"
    assert isinstance(out["quality"].dtype, pd.CategoricalDtype)
    assert list(out["quality"].cat.categories) == list(QUALITY_CODES)
    assert out.index.equals(pd.RangeIndex(len(out)))
    assert out.equals(out.sort_values(["city_id", "timestamp"]).reset_index(drop=True))
    np.testing.assert_array_equal(out["load_mw"], out["load_raw_mw"])


def test_two_hour_gap_is_interpolated_and_flagged() -> None:
    gap = START + 10 * 24 * H + 5 * H
    out, rep = clean(_drop(_load(), gap, 2), _cities())
    before, after = _at(out, gap - H)["load_mw"], _at(out, gap + 2 * H)["load_mw"]
    rows = [_at(out, gap + k * H) for k in range(2)]
    for k, row in enumerate(rows, start=1):
        assert row["quality"] == "interpolated"
        assert np.isnan(row["load_raw_mw"])
        assert row["load_mw"] == pytest.approx(before + (after - before) * k / 3)
        assert not np.isnan(row["temperature_c"])  # weather interpolated too
    gaps = rep["cities"]["a"]["gaps"]
    assert gaps == {
        "count": 1,
        "hours": 2,
        "longest_hours": 2,
        "interpolated_hours": 2,
        "masked_hours": 0,
    }
    assert rep["summary"]["weather"]["temperature_c"] == {"interpolated": 2, "missing": 0}


def test_ten_hour_gap_is_masked() -> None:
    gap = START + 20 * 24 * H
    out, rep = clean(_drop(_load(), gap, 10), _cities())
    rows = out[out["timestamp"].between(gap, gap + 9 * H)]
    assert (rows["quality"] == "inserted_gap").all() and len(rows) == 10
    assert rows["load_mw"].isna().all() and rows["load_raw_mw"].isna().all()
    assert rows["temperature_c"].isna().all()  # longer than max_interpolate_hours
    c = rep["cities"]["a"]
    assert c["gaps"]["masked_hours"] == 10 and c["gaps"]["longest_hours"] == 10
    assert rep["summary"]["weather"]["temperature_c"] == {"interpolated": 0, "missing": 10}


def test_rows_are_only_ever_added() -> None:
    df = _drop(_drop(_load(("a", "b")), START + 100 * H, 2), START + 300 * H, 7, city="b")
    df = _set(df, START + 400 * H, "load_mw", np.nan)
    out, rep = clean(df, _cities(("a", "b")))
    s = rep["summary"]
    assert s["rows_in"] == len(df) and s["rows_out"] == len(out)
    assert s["rows_in"] + s["inserted"] == s["rows_out"] and s["inserted"] == 9
    merged = df.merge(out, on=["city_id", "timestamp"], how="left", suffixes=("", "_out"))
    np.testing.assert_array_equal(merged["load_mw"], merged["load_raw_mw"])  # every row kept
    changed = out["quality"] != ""
    assert s["interpolated"] + s["masked"] + s["flagged"] == changed.sum()
    assert sum(s["by_reason"].values()) == changed.sum()
    assert _at(out, START + 400 * H)["quality"] == "missing"  # a source NaN stays masked


def test_each_city_spans_its_own_first_to_last_hour() -> None:
    df = pd.concat([_load(("a",), days=20), _load(("b",), days=10, start=START + 5 * 24 * H)])
    out, rep = clean(df, _cities(("a", "b")))
    b = out[out["city_id"] == "b"]
    assert b["timestamp"].min() == START + 5 * 24 * H and len(b) == 10 * 24
    assert rep["cities"]["b"]["start"] == (START + 5 * 24 * H).isoformat()
    assert (out.groupby("city_id")["timestamp"].diff().dropna() == H).all()


def test_input_is_not_mutated() -> None:
    df = _set(_drop(_load(), START + 50 * H, 2), START + 500 * H, "load_mw", 0.0)
    copy = df.copy(deep=True)
    clean(df, _cities())
    pd.testing.assert_frame_equal(df, copy)


def test_dst_day_gap_is_counted_in_the_city_time_zone() -> None:
    df = _load(days=60, start=pd.Timestamp("2021-10-18", tz="UTC"))
    fall_back = pd.Timestamp("2021-11-07 05:00", tz="UTC")  # 01:00 EDT, then 01:00 EST
    ordinary = pd.Timestamp("2021-11-17 12:00", tz="UTC")
    df = _drop(_drop(df, fall_back, 2), ordinary, 1)
    _, rep_ny = clean(df, _cities(tz="America/New_York"))
    _, rep_utc = clean(df, _cities(tz="UTC"))
    assert rep_ny["cities"]["a"]["dst_gaps"] == 2
    assert rep_utc["cities"]["a"]["dst_gaps"] == 0
    assert rep_ny["cities"]["a"]["gaps"]["interpolated_hours"] == 3


def test_holiday_flag_is_copied_to_inserted_hours_of_the_same_local_day() -> None:
    df = _load().assign(is_holiday=lambda d: d["timestamp"].dt.day == 14)  # START + 10 days
    out, _ = clean(_drop(df, START + 10 * 24 * H + 3 * H, 2), _cities())
    assert _at(out, START + 10 * 24 * H + 3 * H)["is_holiday"] == True  # noqa: E712 (NA-aware)
    assert out["is_holiday"].notna().all()


# ---- anomalies ----------------------------------------------------------------------------------
@pytest.mark.parametrize("factor", [1.6, 0.4])
def test_single_hour_spike_or_dip_is_masked(factor: float) -> None:
    ts = START + 30 * 24 * H + 14 * H
    df = _load()
    value = _at(df, ts)["load_mw"] * factor
    out, rep = clean(_set(df, ts, "load_mw", value), _cities())
    assert _flagged(out, "outlier") == [ts]
    row = _at(out, ts)
    assert np.isnan(row["load_mw"]) and row["load_raw_mw"] == value
    assert rep["cities"]["a"]["outliers"] == 1 and rep["summary"]["by_reason"]["outlier"] == 1


def test_outlier_policies() -> None:
    ts = START + 30 * 24 * H + 14 * H
    df = _set(_load(), ts, "load_mw", 300.0)
    flagged, rep = clean(df, _cities(), CleaningConfig(outlier_policy="flag"))
    assert _at(flagged, ts)["load_mw"] == 300.0 and _at(flagged, ts)["quality"] == "outlier"
    assert rep["summary"]["flagged"] == 1 and rep["summary"]["masked"] == 0
    filled, rep = clean(df, _cities(), CleaningConfig(outlier_policy="interpolate"))
    before, after = _at(filled, ts - H)["load_mw"], _at(filled, ts + H)["load_mw"]
    assert _at(filled, ts)["load_mw"] == pytest.approx((before + after) / 2)
    assert _at(filled, ts)["quality"] == "outlier" and rep["summary"]["interpolated"] == 1


def test_weather_peak_raising_whole_days_is_not_an_outlier() -> None:
    df = _load()
    heat = df["timestamp"].between(START + 30 * 24 * H, START + 33 * 24 * H)
    df.loc[heat, "load_mw"] *= 1.35  # a three-day heat wave lifts every hour
    out, _ = clean(df, _cities())
    assert _flagged(out, "outlier") == []


def test_holiday_shape_needs_a_larger_score() -> None:
    day = START + 30 * 24 * H
    df = _load().assign(is_holiday=False)
    morning = df["timestamp"].between(day + 7 * H, day + 9 * H)
    df.loc[morning, "load_mw"] *= 0.8  # a late holiday morning
    out, _ = clean(df, _cities())
    assert len(_flagged(out, "outlier")) > 0
    df["is_holiday"] = df["timestamp"].dt.floor("D") == day
    out, _ = clean(df, _cities())
    assert _flagged(out, "outlier") == []


@pytest.mark.parametrize(("policy", "load"), [("mask", np.nan), ("flag", 0.0)])
def test_zero_policy(policy: str, load: float) -> None:
    ts = START + 12 * 24 * H
    out, rep = clean(
        _set(_load(), ts, "load_mw", 0.0), _cities(), CleaningConfig(zero_policy=policy)
    )
    assert _flagged(out, "zero") == [ts]
    np.testing.assert_equal(_at(out, ts)["load_mw"], load)
    assert rep["cities"]["a"]["zeros"] == 1 and rep["summary"]["outliers"] == 0


def test_negative_policy() -> None:
    ts = START + 12 * 24 * H
    df = _set(_load(), ts, "load_mw", -5.0)
    out, rep = clean(df, _cities())
    assert _flagged(out, "negative") == [ts] and rep["cities"]["a"]["negatives"] == 1
    with pytest.raises(SchemaError, match=r"negative load -5\.0"):
        clean(df, _cities(), CleaningConfig(negative_policy="error"))


def test_flatline_of_a_day_is_masked_but_shorter_runs_are_not() -> None:
    df = _load()
    long_run = df["timestamp"].between(START + 10 * 24 * H, START + 10 * 24 * H + 29 * H)
    short_run = df["timestamp"].between(START + 20 * 24 * H, START + 20 * 24 * H + 19 * H)
    df.loc[long_run, "load_mw"] = 97.0
    df.loc[short_run, "load_mw"] = 98.0
    out, rep = clean(df, _cities(), CleaningConfig(outlier_policy="flag"))
    flat = out["quality"] == "flatline"
    assert flat.sum() == 30 and out.loc[flat, "load_mw"].isna().all()
    assert rep["cities"]["a"]["flatline_hours"] == 30
    assert (out.loc[out["load_raw_mw"] == 98.0, "quality"] != "flatline").all()


def test_level_shift_is_reported_and_data_left_as_is() -> None:
    df = _load(days=600, start=pd.Timestamp("2020-01-06", tz="UTC"))
    after = df["timestamp"] >= pd.Timestamp("2021-03-01", tz="UTC")
    df.loc[after, "load_mw"] *= 2.5
    out, rep = clean(df, _cities())
    assert len(rep["level_shifts"]) == 1
    shift = rep["level_shifts"][0]
    assert shift["city_id"] == "a" and shift["at"] == "2021-03"
    assert shift["ratio"] == pytest.approx(2.5, rel=0.05) and shift["months"] >= 2
    assert rep["cities"]["a"]["level_shifts"] == [shift]
    assert (out["quality"] == "").all()  # reported only; the step itself is not an outlier
    np.testing.assert_array_equal(out["load_mw"], out["load_raw_mw"])
    assert any("not changed" in n for n in rep["notes"])


def test_seasonal_swing_is_not_a_level_shift() -> None:
    df = _load(days=800, start=pd.Timestamp("2020-01-06", tz="UTC"))
    doy = df["timestamp"].dt.day_of_year.to_numpy()
    df["load_mw"] *= 1.5 + 0.7 * np.cos(2 * np.pi * doy / 365.25)  # winter 2.2×, summer 0.8×
    _, rep = clean(df, _cities())
    assert rep["level_shifts"] == []


def test_identical_series_are_reported() -> None:
    a = _load(("a",))
    copies = [a.assign(city_id="twin"), a.assign(city_id="triplet")]
    shorter = a[a["timestamp"] < START + 20 * 24 * H].assign(city_id="part")  # other coverage
    other = _load(("c",), seed=5)
    df = pd.concat([a, *copies, shorter, other])
    _, rep = clean(df, _cities(("a", "twin", "triplet", "part", "c")))
    names = ["a", "part", "triplet", "twin"]
    expected = [[x, y] for i, x in enumerate(names) for y in names[i + 1 :]]
    assert rep["identical_series"] == expected


# ---- report, config and errors ------------------------------------------------------------------
def test_report_is_json_and_formats_as_a_table() -> None:
    df = _set(_drop(_load(("a", "b")), START + 100 * H, 2), START + 30 * 24 * H, "load_mw", 400.0)
    _, rep = clean(df, _cities(("a", "b")))
    assert json.loads(json.dumps(rep)) == rep
    assert set(rep) == {"config", "summary", "cities", "level_shifts", "identical_series", "notes"}
    assert rep["config"] == CleaningConfig().model_dump(mode="json")
    text = format_report(rep)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["city", "rows", "inserted"]
    assert any(line.startswith("a ") for line in lines) and any(
        line.startswith("b ") for line in lines
    )
    assert "2 cities" in text


def test_cleaning_twice_keeps_the_raw_values_and_reasons() -> None:
    ts = START + 30 * 24 * H + 14 * H
    df = _set(_drop(_load(), START + 100 * H, 2), ts, "load_mw", 400.0)
    once, _ = clean(df, _cities())
    twice, _ = clean(once, _cities())
    np.testing.assert_array_equal(twice["load_raw_mw"], once["load_raw_mw"])
    assert _at(twice, ts)["quality"] == "outlier"
    assert (
        twice.loc[once["quality"] != "", "quality"] == once.loc[once["quality"] != "", "quality"]
    ).all()


def test_unknown_config_key_is_named() -> None:
    with pytest.raises(ValidationError, match="max_interpolate_hour"):
        CleaningConfig(max_interpolate_hour=3)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: pd.concat([d, d.iloc[:1]]), "duplicate"),
        (lambda d: d.assign(timestamp=d["timestamp"].dt.tz_localize(None)), "tz-aware"),
        (lambda d: d.assign(timestamp=d["timestamp"] + pd.Timedelta(minutes=30)), "on the hour"),
        (lambda d: d.drop(columns="load_mw"), "load_mw"),
        (lambda d: d.assign(city_id="zz"), "zz"),
        (lambda d: d.astype({"load_mw": object}).assign(load_mw="1,5"), "not a number"),
    ],
)
def test_bad_input_is_a_schema_error(mutate, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        clean(mutate(_load()), _cities())


def test_city_without_a_valid_time_zone_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="timezone"):
        clean(_load(), _cities(tz="Mars/Olympus"))


# ---- plausibility (issue 18, item 2) -----------------------------------------------------------
def test_a_year_2300_typo_is_one_error_not_millions_of_rows(monkeypatch) -> None:
    """Before: one row in 2300 made cleaning fill 2.45 M absent hours (1.1 GB) and succeed."""
    import energy.data.cleaning as cleaning

    df = _load(days=7)
    typo = START + 50 * H
    df.loc[df["timestamp"] == typo, "timestamp"] = typo.replace(year=2300)

    def no_grid(*_: object) -> None:
        raise AssertionError("the hourly grid must not be built for an implausible span")

    monkeypatch.setattr(cleaning, "_regular_grid", no_grid)
    msg = (
        r"city 'a', timestamp 2300-01-06 02:00:00\+00:00: is on or after latest=2100-01-01 "
        r".*change latest in the --cleaning"
    )
    with pytest.raises(SchemaError, match=msg):
        clean(df, _cities())
    early = _set(_load(days=7), START, "timestamp", pd.Timestamp("1900-01-04", tz="UTC"))
    with pytest.raises(SchemaError, match=r"city 'a', timestamp 1900-01-04 .*before earliest="):
        clean(early, _cities())


def test_gap_filling_is_bounded() -> None:
    df = _load(("a", "b"), days=7)
    late = df["city_id"].eq("b") & (df["timestamp"] == START + 6 * 24 * H)
    df.loc[late, "timestamp"] = START + 400 * 24 * H  # 2022: a typo for the last day
    msg = (
        r"city 'b': 9,432 absent hours between timestamps 2021-01-10 23:00:00\+00:00 and "
        r"2022-02-08 00:00:00\+00:00, more than max_gap_hours=8784"
    )
    with pytest.raises(SchemaError, match=msg):
        clean(df, _cities(("a", "b")))
    _, rep = clean(df, _cities(("a", "b")), CleaningConfig(max_gap_hours=10_000))
    assert rep["cities"]["b"]["gaps"]["longest_hours"] == 9432
    with pytest.raises(ValidationError, match="latest"):
        CleaningConfig(earliest="2020-01-01", latest="2019-01-01")


def test_implausible_loads_are_masked_and_reported() -> None:
    """Before: a load of 1e300 MW was accepted as data."""
    df = _set(_load(("a", "b")), START + 100 * H, "load_mw", 1e300)
    df = _set(df, START + 200 * H, "load_mw", 50 * 120.0, city="b")  # 25 x b's median, < cap
    out, rep = clean(df, _cities(("a", "b")))
    assert _flagged(out, "implausible") == [START + 100 * H, START + 200 * H]
    row = _at(out, START + 100 * H)
    assert np.isnan(row["load_mw"]) and row["load_raw_mw"] == 1e300
    a = rep["cities"]["a"]
    assert a["implausible"] == 1 and a["outliers"] == 0  # masked first: z-scores stay sane
    assert a["load_bounds_mw"][0] == 0 and 900 < a["load_bounds_mw"][1] < 1100
    assert a["implausible_first"] == {"timestamp": (START + 100 * H).isoformat(), "load_mw": 1e300}
    assert rep["summary"]["implausible"] == 2 and rep["summary"]["by_reason"]["implausible"] == 2
    assert "a: 1 implausible loads outside [0, " in " ".join(rep["notes"])
    assert "implausible loads: 2 masked" in format_report(rep)
    # the same file with a per-city range that allows the value for b
    _, rep = clean(df, _cities(("a", "b")), CleaningConfig(load_bounds_mw={"b": (1, 1e4)}))
    b = rep["cities"]["b"]
    assert b["implausible"] == 0 and b["load_bounds_mw"] == [1, 1e4]


def test_a_mostly_wrong_city_fails_the_import() -> None:
    df = _load(("a", "b"), days=14)
    wrong = df["city_id"].eq("b") & (df["timestamp"] >= START + 3 * 24 * H)
    df.loc[wrong, "load_mw"] *= 1e7  # MW read as W, say: above the 5e6 MW cap
    msg = (
        r"city 'b': 264 of 336 loads \(78\.6 %\) are implausible \(negative or outside \[0, "
        r".*\(above\) at 2021-01-07 00:00:00\+00:00; .*max_implausible_share=0\.5"
    )
    with pytest.raises(SchemaError, match=msg):
        clean(df, _cities(("a", "b")))
    _, rep = clean(df, _cities(("a", "b")), CleaningConfig(max_implausible_share=0.9))
    assert rep["cities"]["b"]["implausible"] == 264
    low = _load(days=14)
    with pytest.raises(
        SchemaError, match=r"city 'a': 336 of 336 loads .*\[500, 1000\] .*\(below\)"
    ):
        clean(low, _cities(), CleaningConfig(load_bounds_mw={"a": (500, 1000)}))
    with pytest.raises(ValidationError, match=r"load_bounds_mw\.a: need 0 <= low < high"):
        CleaningConfig(load_bounds_mw={"a": (10, 5)})


@pytest.mark.parametrize("hours", [1, 2, 12, 23])
def test_a_city_shorter_than_a_day_is_cleaned(hours: int) -> None:
    """Found by the importer property test: under 23 rows failed with "all input arrays must
    have the same shape" (numpy) instead of being kept."""
    df = _load(days=2).sort_values("timestamp").head(hours)
    out, rep = clean(df, _cities())
    assert len(out) == hours and rep["summary"]["rows_in"] == hours
    np.testing.assert_array_equal(out["load_raw_mw"], df["load_mw"])


def test_negative_loads_count_towards_a_mostly_wrong_city() -> None:
    df = _load(days=14)
    first = df["timestamp"] < START + 8 * 24 * H
    with pytest.raises(SchemaError, match=r"city 'a': 192 of 336 .*MW \(negative\) at 2021-01-04 "):
        clean(df.assign(load_mw=df["load_mw"].where(~first, -df["load_mw"])), _cities())
