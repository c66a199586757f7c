"""SequenceWindows: shapes, zero-copy views, window validity, city boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from energy.features import FeatureConfig, FeaturePipeline
from energy.features.windows import SequenceWindows, split_columns

pytestmark = pytest.mark.unit

L, H = 6, 3


def frame(hours_per_city=(20, 15), nan_target=(), gap=None) -> pd.DataFrame:
    """A transform-like frame: the target equals the row's global index, one past and one known
    feature; ``nan_target`` lists global rows whose target is NaN; ``gap`` drops one row."""
    parts = []
    for k, n in enumerate(hours_per_city):
        ts = pd.date_range("2021-01-01", periods=n, freq="h", tz="UTC")
        parts.append(pd.DataFrame({"city_id": f"c{k}", "timestamp": ts}))
    f = pd.concat(parts, ignore_index=True)
    f["target"] = np.arange(len(f), dtype=np.float32)
    f["load_lag_24h"] = -f["target"]
    f["temperature_c"] = 100 + f["target"]
    f.loc[list(nan_target), "target"] = np.nan
    return f.drop(index=gap) if gap is not None else f


def test_items_are_views_with_documented_shapes():
    ds = SequenceWindows.from_frame(frame(), lookback=L, horizon=H)
    past, future, target, city = ds[0]
    assert past.shape == (L, 3) and future.shape == (H, 1) and target.shape == (H,)
    assert city.dtype == torch.int64 and city.item() == 0
    for t in (past, future, target):
        assert t.untyped_storage().data_ptr() == ds._t.untyped_storage().data_ptr()
    assert ds.columns == ["target", "load_lag_24h", "temperature_c"]
    np.testing.assert_array_equal(target.numpy(), [6, 7, 8])
    np.testing.assert_array_equal(future[:, 0].numpy(), [106, 107, 108])
    np.testing.assert_array_equal(past[:, 1].numpy(), -np.arange(6))
    no_known = SequenceWindows.from_frame(frame(), lookback=L, horizon=H, known_in_past=False)
    assert no_known[0][0].shape == (L, 2)


def test_windows_stay_inside_one_city_and_skip_missing_targets():
    f = frame(nan_target=[10, 2])  # row 10: a target hour of city c0; row 2: a lookback hour
    ds = SequenceWindows.from_frame(f, lookback=L, horizon=H)
    starts = ds.starts
    # city c0 rows 0..19 → starts 0..11, c1 rows 20..34 → starts 20..26
    c0 = [s for s in range(0, 12) if not (s + L <= 10 < s + L + H)]
    assert starts.tolist() == c0 + list(range(20, 27))
    assert ds.window_city.tolist() == [0] * len(c0) + [1] * 7
    assert ds[0][0][2, 0].item() == 0.0  # NaN in the lookback → fill value
    for i in range(len(ds)):
        _, _, target, _ = ds[i]
        assert torch.isfinite(target).all()
    idx = ds.window_index()
    assert idx["origin"].iloc[0] == pd.Timestamp("2021-01-01 06:00", tz="UTC")
    assert idx["city_id"].iloc[-1] == "c1"


def test_a_missing_hour_splits_the_series():
    ds = SequenceWindows.from_frame(frame(hours_per_city=(20,), gap=9), lookback=L, horizon=H)
    # blocks 0..8 (9 rows, starts 0) and 10..19 (10 rows, starts 10, 11) in original row numbers
    assert len(ds) == 1 + 2
    assert all(ds.hours[s + L + H - 1] - ds.hours[s] == L + H - 1 for s in ds.starts)


def test_unsorted_input_and_stride():
    f = frame().sample(frac=1.0, random_state=0)
    ds = SequenceWindows.from_frame(f, lookback=L, horizon=H, stride=4)
    assert ds.starts.tolist() == [0, 4, 8, 20, 24]
    np.testing.assert_array_equal(ds[1][2].numpy(), [10, 11, 12])


def test_from_pipeline_output_through_a_dataloader():
    ts = pd.date_range("2021-01-01", periods=24 * 30, freq="h", tz="UTC")
    rng = np.random.default_rng(0)
    load = pd.concat(
        [
            pd.DataFrame(
                {
                    "city_id": c,
                    "timestamp": ts,
                    "load_mw": 500
                    + 100 * np.sin(np.arange(len(ts)) / 4)
                    + rng.normal(0, 5, len(ts)),
                    "temperature_c": rng.normal(5, 3, len(ts)),
                }
            )
            for c in ("a", "b")
        ],
        ignore_index=True,
    )
    cities = pd.DataFrame(
        {"city_id": ["a", "b"], "country": ["FR", "JP"], "timezone": ["Europe/Paris", "Asia/Tokyo"]}
    )
    pipe = FeaturePipeline(FeatureConfig(horizon=24)).fit(load, cities)
    out = pipe.transform(load)
    past_cols, future_cols = split_columns(pipe.feature_names_)
    assert past_cols and all(c.startswith("load_") for c in past_cols)
    assert "hour" not in future_cols and "city_code" not in future_cols and "is_dst" in future_cols
    ds = SequenceWindows.from_frame(out, lookback=48, horizon=24)
    assert len(ds) == 2 * (len(ts) - 48 - 24 + 1)
    assert ds.data.dtype == np.float32 and ds.data.flags.c_contiguous
    assert not np.isnan(ds.data).any()
    past, future, target, city = next(iter(DataLoader(ds, batch_size=8, shuffle=True)))
    assert past.shape == (8, 48, ds.n_past)  # (batch, lookback, n_past)
    assert future.shape == (8, 24, ds.n_future)  # (batch, horizon, n_future)
    assert target.shape == (8, 24) and city.shape == (8,)
    assert ds.n_past == 1 + len(past_cols) + len(future_cols)
