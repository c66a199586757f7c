"""energy.data.splits: no leakage across time or cities, exact windows, clear errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from energy.data import splits as sp
from energy.data.dataset import Dataset
from energy.data.splits import Split, SplitError

pytestmark = pytest.mark.unit

START = pd.Timestamp("2021-01-01", tz="UTC")
H = pd.Timedelta(hours=1)


def _frame(n_cities: int = 4, days: int = 30, seed: int = 0) -> pd.DataFrame:
    """A complete hourly table with shuffled rows and a non-default index, so that the tests
    catch label-based or order-dependent indexing."""
    ts = pd.date_range(START, periods=days * 24, freq="h")  # naive, localised below
    df = pd.DataFrame(
        {
            "city_id": np.repeat([f"c{i}" for i in range(n_cities)], len(ts)),
            "timestamp": pd.DatetimeIndex(np.tile(ts.to_numpy(), n_cities), tz="UTC"),
            "load_mw": 1.0,
        }
    )
    order = np.random.default_rng(seed).permutation(len(df))
    return df.iloc[order].set_index(np.arange(len(df)) * 10 + 7)


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return _frame()


def _times(df: pd.DataFrame, idx: np.ndarray) -> pd.Series:
    return df["timestamp"].iloc[idx]


def _check_time_split(df: pd.DataFrame, s: Split) -> None:
    """The invariants every time split must satisfy."""
    gap = s.gap_hours * H
    train, val, test = (_times(df, i) for i in (s.train, s.val, s.test))
    assert len(train) and len(test)
    assert train.max() < test.min() - gap
    assert train.max() < s.train_end <= s.test_start - gap
    assert s.test_start <= test.min() and test.max() < s.test_end
    if len(val):
        assert train.max() < val.min() - gap
        assert val.max() < test.min() - gap
        assert s.val_start <= val.min()
    _check_disjoint(s, len(df))


def _check_disjoint(s: Split, n: int) -> None:
    parts = np.concatenate([s.train, s.val, s.test])
    assert len(np.unique(parts)) == len(parts)
    assert parts.min() >= 0 and parts.max() < n
    for part in (s.train, s.val, s.test):
        assert np.all(np.diff(part) > 0)


# ---- out_of_time --------------------------------------------------------------------------------
def test_out_of_time_windows_and_gap(df: pd.DataFrame) -> None:
    s = sp.out_of_time(df, val_start="2021-01-20", test_start="2021-01-25", gap_hours=24)
    _check_time_split(df, s)
    train, val, test = s.frames(df)
    assert train["timestamp"].max() == pd.Timestamp("2021-01-18 23:00", tz="UTC")
    assert val["timestamp"].min() == pd.Timestamp("2021-01-20", tz="UTC")
    assert val["timestamp"].max() == pd.Timestamp("2021-01-23 23:00", tz="UTC")
    assert test["timestamp"].min() == pd.Timestamp("2021-01-25", tz="UTC")
    assert test["timestamp"].max() == df["timestamp"].max()  # test_end defaults to the end
    # every row is in exactly one part except the two 24-hour gaps (4 cities)
    assert sum(s.sizes.values()) == len(df) - 2 * 24 * 4
    assert set(test.index) <= set(df.index)  # frames keep the original index


def test_out_of_time_naive_dates_are_utc_and_aware_dates_are_converted(df: pd.DataFrame) -> None:
    naive = sp.out_of_time(df, test_start="2021-01-25 06:00", test_end="2021-01-26")
    aware = sp.out_of_time(
        df,
        test_start=pd.Timestamp("2021-01-25 07:00", tz="Europe/Paris"),
        test_end="2021-01-26T01:00+01:00",
    )
    assert naive.test_start == aware.test_start == pd.Timestamp("2021-01-25 06:00", tz="UTC")
    np.testing.assert_array_equal(naive.test, aware.test)
    assert len(naive.val) == 0 and naive.val_start is None
    assert len(naive.test) == 18 * 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"val_start": "2021-01-26", "test_start": "2021-01-25"},
            "val_start: 2021-01-26 00:00:00+00:00 is after test_start 2021-01-25 00:00:00+00:00",
        ),
        (
            {"test_start": "2021-01-25", "test_end": "2021-01-25"},
            "test_end: 2021-01-25 00:00:00+00:00 is not after test_start 2021-01-25 00:00:00+00:00",
        ),
        (
            {"test_start": "2021-03-01"},
            "test_start: 2021-03-01 00:00:00+00:00 is after the last timestamp in the data "
            "(2021-01-30 23:00:00+00:00)",
        ),
        (
            {"test_start": "2020-01-01", "test_end": "2020-02-01"},
            "test_end: 2020-02-01 00:00:00+00:00 is not after the first timestamp in the data "
            "(2021-01-01 00:00:00+00:00)",
        ),
        (
            {"test_start": "2021-01-01 05:00", "gap_hours": 6},
            "out-of-time: no train rows in [the first timestamp, 2020-12-31 23:00:00+00:00)",
        ),
        (
            {"val_start": "2021-01-24 12:00", "test_start": "2021-01-25", "gap_hours": 12},
            "val_start: 2021-01-24 12:00:00+00:00 leaves no hours before test_start − gap_hours",
        ),
        (
            {"test_start": "next tuesday"},
            "test_start: cannot read 'next tuesday' as an ISO 8601 time",
        ),
        ({"test_start": "2021-01-25", "gap_hours": -1}, "gap_hours: must be an integer >= 0"),
        ({"test_start": "2021-01-25", "gap_hours": 1.5}, "gap_hours: must be an integer >= 0"),
    ],
)
def test_out_of_time_errors(df: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(SplitError, match=re.escape(message)):
        sp.out_of_time(df, **kwargs)


def test_frame_checks() -> None:
    with pytest.raises(SplitError, match="frame has no rows or no 'timestamp' column"):
        sp.out_of_time(pd.DataFrame({"timestamp": []}), test_start="2021-01-01")
    naive = pd.DataFrame({"timestamp": pd.date_range("2021-01-01", periods=3, freq="h")})
    with pytest.raises(SplitError, match=r"column 'timestamp' must be tz-aware UTC"):
        sp.out_of_time(naive, test_start="2021-01-01")
    s = sp.out_of_time(_frame(2, 3), test_start="2021-01-03")
    with pytest.raises(SplitError, match=r"out-of-time: frame has 10 rows, the split 144"):
        s.frames(_frame(2, 3).head(10))
    with pytest.raises(ValueError, match="read-only"):
        s.train[0] = 1


# ---- rolling_origin -----------------------------------------------------------------------------
def test_expanding_folds_cover_the_expected_windows(df: pd.DataFrame) -> None:
    folds = sp.rolling_origin(df, n_folds=4, horizon_hours=48, gap_hours=3)
    assert [f.name for f in folds] == ["fold-0", "fold-1", "fold-2", "fold-3"]
    end = df["timestamp"].max() + H
    for i, f in enumerate(folds):
        _check_time_split(df, f)
        expected = pd.date_range(end - (4 - i) * 48 * H, periods=48, freq="h")
        test = _times(df, f.test)
        assert sorted(test.unique()) == list(expected)
        assert len(test) == 48 * 4  # every city, every hour of the window
        assert _times(df, f.train).min() == df["timestamp"].min()  # expanding: from the start
    sizes = [len(f.train) for f in folds]
    assert sizes == sorted(sizes) and sizes[1] - sizes[0] == 48 * 4


def test_sliding_folds_have_fixed_train_length_and_validation(df: pd.DataFrame) -> None:
    folds = sp.rolling_origin(
        df,
        n_folds=3,
        horizon_hours=24,
        step_hours=36,
        mode="sliding",
        train_hours=100,
        gap_hours=2,
        val_hours=12,
        end="2021-01-29",
    )
    for f in folds:
        _check_time_split(df, f)
        train, val = _times(df, f.train), _times(df, f.val)
        assert train.max() - train.min() == 99 * H and len(train) == 100 * 4
        assert val.max() - val.min() == 11 * H and len(val) == 12 * 4
        assert f.val_start == f.test_start - 14 * H and f.train_end == f.val_start - 2 * H
    assert folds[-1].test_end == pd.Timestamp("2021-01-29", tz="UTC")
    assert [f.test_start - folds[0].test_start for f in folds] == [i * 36 * H for i in range(3)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"n_folds": 20, "horizon_hours": 48},
            "too few rows for n_folds=20: fold-0 needs data before 2020-12-22 00:00:00+00:00, "
            "but the data start at 2021-01-01 00:00:00+00:00",
        ),
        (
            {"n_folds": 2, "horizon_hours": 24, "mode": "sliding", "train_hours": 24 * 29},
            "too few rows for n_folds=2: fold-0 needs 696 hours of data before "
            "2021-01-29 00:00:00+00:00, but the data start at 2021-01-01 00:00:00+00:00",
        ),
        ({"n_folds": 2, "horizon_hours": 24, "mode": "sliding"}, "train_hours: required when"),
        (
            {"n_folds": 2, "horizon_hours": 24, "train_hours": 48},
            "train_hours: only used when mode='sliding', got 48",
        ),
        ({"n_folds": 2, "horizon_hours": 24, "mode": "growing"}, "mode: expected 'expanding'"),
        ({"n_folds": 0, "horizon_hours": 24}, "n_folds: must be an integer >= 1, got 0"),
        ({"n_folds": 2, "horizon_hours": 0}, "horizon_hours: must be an integer >= 1, got 0"),
        (
            {"n_folds": 2, "horizon_hours": 24, "end": "2021-02-01"},
            "end: 2021-02-01 00:00:00+00:00 is after the end of the data "
            "(2021-01-31 00:00:00+00:00)",
        ),
    ],
)
def test_rolling_origin_errors(df: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(SplitError, match=re.escape(message)):
        sp.rolling_origin(df, **kwargs)


def test_rolling_origin_reports_a_fold_without_test_rows() -> None:
    df = _frame(2, 10)
    holed = df[df["timestamp"] < pd.Timestamp("2021-01-09", tz="UTC")]
    holed = pd.concat([holed, df[df["timestamp"] == df["timestamp"].max()]])
    with pytest.raises(SplitError, match=re.escape("fold-0: no test rows in [2021-01-09")):
        sp.rolling_origin(holed, n_folds=2, horizon_hours=24)


# ---- city_wise ----------------------------------------------------------------------------------
def test_city_wise_holds_every_city_out_once_and_never_trains_on_it() -> None:
    df = _frame(n_cities=7, days=3)
    splits = sp.city_wise(df, k=2, seed=5)
    assert [len(s.test_cities) for s in splits] == [2, 2, 2, 1]  # ceil(7 / 2) groups
    held = [c for s in splits for c in s.test_cities]
    assert sorted(held) == sorted(df["city_id"].unique())
    for s in splits:
        _check_disjoint(s, len(df))
        train, _, test = s.frames(df)
        assert set(test["city_id"]) == set(s.test_cities)
        assert not set(train["city_id"]) & set(test["city_id"])
        assert len(train) + len(test) == len(df)


def test_city_wise_is_deterministic_and_seed_dependent() -> None:
    df = _frame(n_cities=8, days=2)
    groups = [tuple(s.test_cities for s in sp.city_wise(df, k=2, seed=seed)) for seed in (1, 1, 2)]
    assert groups[0] == groups[1] != groups[2]
    again = sp.city_wise(df.copy(), k=2, seed=1)
    for a, b in zip(sp.city_wise(df, k=2, seed=1), again, strict=True):
        np.testing.assert_array_equal(a.test, b.test)


def test_city_wise_subset_n_splits_and_validation() -> None:
    df = _frame(n_cities=5, days=4)
    splits = sp.city_wise(df, cities=["c1", "c3", "c4"], n_splits=2, val_start="2021-01-03")
    assert len(splits) == 2
    assert {c for s in splits for c in s.test_cities} <= {"c1", "c3", "c4"}
    for s in splits:
        train, val, test = s.frames(df)
        assert train["timestamp"].max() < s.val_start <= val["timestamp"].min()
        assert not set(val["city_id"]) & set(s.test_cities)
        assert test["timestamp"].min() == df["timestamp"].min()  # test keeps all hours
        assert s.train_end == pd.Timestamp("2021-01-03", tz="UTC") and s.test_start is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 3}, "k: 3 leaves no training city (the frame has 3 cities)"),
        ({"k": 0}, "k: must be an integer >= 1, got 0"),
        ({"cities": ["c1", "zz"]}, "cities: unknown city_id 'zz'"),
        ({"k": 2, "cities": ["c1"]}, "k: 2 is more than the 1 cities given in `cities`"),
        ({"k": 2, "n_splits": 3}, "n_splits: 3 is more than the 2 groups of k=2 cities"),
        ({"val_start": "2022-01-01"}, "cities-0: no val rows from val_start 2022-01-01"),
        ({"val_start": "2020-01-01"}, "cities-0: no train rows before val_start 2020-01-01"),
    ],
)
def test_city_wise_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(SplitError, match=re.escape(message)):
        sp.city_wise(_frame(n_cities=3, days=2), **kwargs)


# ---- applying splits: data set rows and day-ahead origins ----------------------------------------
def test_subset_takes_rows_by_mask_or_index_and_keeps_the_rest() -> None:
    load = _frame(n_cities=2, days=2)
    cities = pd.DataFrame({"city_id": ["c0", "c1"], "timezone": ["UTC", "UTC"]})
    data = Dataset(load, cities, manifest={"content_hash": "h"})
    (split,) = sp.city_wise(load, k=1, n_splits=1)
    by_index = sp.subset(data, split.test)
    by_mask = sp.subset(data, (load["city_id"] == split.test_cities[0]).to_numpy())
    for part in (by_index, by_mask):
        assert set(part.load["city_id"]) == set(split.test_cities) and len(part.load) == 48
        assert part.cities is data.cities and part.manifest == data.manifest
        assert list(part.load.index) == list(range(48))


def test_day_ahead_origins_are_local_midnights_across_dst_and_fractional_offsets() -> None:
    cities = pd.DataFrame(
        {"city_id": ["ny", "del"], "timezone": ["America/New_York", "Asia/Kolkata"]}
    )
    t = pd.date_range("2021-03-10", "2021-03-20", freq="h", tz="UTC")
    frame = pd.DataFrame({"city_id": np.repeat(["ny", "del"], len(t)), "timestamp": t.append(t)})
    o = sp.day_ahead_origins(frame, cities, t[0], t[-1] + H, horizon=24, min_history_hours=48)
    ny = o[o["city_id"] == "ny"]["origin"]
    assert ny.iloc[0] == pd.Timestamp("2021-03-12 05:00", tz="UTC")  # first with 48 h history
    assert pd.Timestamp("2021-03-15 04:00", tz="UTC") in set(ny)  # EDT from 14 March
    assert (ny + 24 * H <= t[-1] + H).all()
    dl = o[o["city_id"] == "del"]["origin"]
    assert len(dl) == 7 and (dl.dt.hour == 18).all()  # 00:00 IST = 18:30 UTC, floored
    # naive bounds are each city's wall clock; a 6-hour origin needs 6 rows, not 24
    six = sp.day_ahead_origins(frame, cities, "2021-03-19", "2021-03-20", horizon=6)
    assert list(six["city_id"]) == ["del", "ny"]
    with pytest.raises(SplitError, match="hour_local"):
        sp.day_ahead_origins(frame, cities, t[0], t[-1], hour_local=24)


# ---- properties over random parameters ----------------------------------------------------------
def test_random_rolling_origin_parameters_keep_the_invariants() -> None:
    rng = np.random.default_rng(12345)
    df = _frame(n_cities=3, days=20, seed=1)
    made = 0
    for _ in range(150):
        kwargs = {
            "n_folds": int(rng.integers(1, 6)),
            "horizon_hours": int(rng.integers(1, 72)),
            "step_hours": int(rng.integers(1, 72)) if rng.random() < 0.5 else None,
            "gap_hours": int(rng.integers(0, 30)),
            "val_hours": int(rng.integers(0, 48)) if rng.random() < 0.5 else 0,
        }
        if rng.random() < 0.5:
            kwargs |= {"mode": "sliding", "train_hours": int(rng.integers(1, 200))}
        try:
            folds = sp.rolling_origin(df, **kwargs)
        except SplitError as e:
            assert str(e).startswith("too few rows for n_folds="), (kwargs, e)
            continue
        made += 1
        assert len(folds) == kwargs["n_folds"]
        for f in folds:
            _check_time_split(df, f)
            assert len(_times(df, f.test).unique()) == kwargs["horizon_hours"]
            if kwargs.get("mode") == "sliding":
                assert len(_times(df, f.train).unique()) == kwargs["train_hours"]
            assert len(_times(df, f.val).unique()) == kwargs["val_hours"]
    assert made > 50  # most draws fit the data; the loop is not vacuous


def test_random_out_of_time_and_city_parameters_keep_the_invariants() -> None:
    rng = np.random.default_rng(7)
    df = _frame(n_cities=6, days=10, seed=2)
    first = df["timestamp"].min()
    for _ in range(100):
        test_start = first + int(rng.integers(96, 240)) * H
        val_start = test_start - int(rng.integers(30, 48)) * H
        gap = int(rng.integers(0, 24))
        _check_time_split(
            df, sp.out_of_time(df, val_start=val_start, test_start=test_start, gap_hours=gap)
        )
        k, seed = int(rng.integers(1, 6)), int(rng.integers(0, 1000))
        splits = sp.city_wise(df, k=k, seed=seed)
        assert sorted(c for s in splits for c in s.test_cities) == sorted(df["city_id"].unique())
        for s in splits:
            assert 1 <= len(s.test_cities) <= k
            cities = df["city_id"].to_numpy()
            assert not set(cities[s.train]) & set(cities[s.test])
            _check_disjoint(s, len(df))
