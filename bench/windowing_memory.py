"""Peak memory and time of features + sequence windows on a production-sized frame.

Default: a synthetic frame of 20 cities × 4.5 years hourly (≈ 790k rows), generated here with numpy.
``--data DIR`` runs on an imported data set instead (``energy.data.dataset.read_dataset``).
Fits the feature pipeline on the first 80 % of the span, transforms every row, builds
``SequenceWindows`` and iterates a DataLoader. Prints figures, then ONE JSON line::

    {"windowing_peak_rss_gib": .., "n_windows": .., "rows": .., "n_features": .., "build_s": ..}

Usage: ``python bench/windowing_memory.py [--data DIR] [--batches 300] [--batch-size 256]``
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import pandas as pd
import psutil
import torch
from torch.utils.data import DataLoader

from energy.features import FeatureConfig, FeaturePipeline
from energy.features.windows import SequenceWindows

_ZONES = [
    ("US", "US-MA", "America/New_York", 42.4, -71.1),
    ("US", "US-TX", "America/Chicago", 29.8, -95.4),
    ("US", "US-CA", "America/Los_Angeles", 34.1, -118.2),
    ("DE", "DE-BE", "Europe/Berlin", 52.5, 13.4),
    ("FR", "", "Europe/Paris", 48.9, 2.4),
    ("GB", "GB-ENG", "Europe/London", 51.5, -0.1),
    ("JP", "", "Asia/Tokyo", 35.7, 139.7),
    ("AU", "AU-NSW", "Australia/Sydney", -33.9, 151.2),
    ("BR", "BR-SP", "America/Sao_Paulo", -23.6, -46.6),
    ("IN", "IN-DL", "Asia/Kolkata", 28.6, 77.2),
]


def rss_gib() -> float:
    return psutil.Process().memory_info().rss / 2**30


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def synthetic(n_cities: int = 20, years: float = 4.5, seed: int = 0):
    """Load (MW), weather (°C, m/s, W/m²), cities and events; timestamps UTC, hour-beginning."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2019-01-01", periods=int(years * 8766), freq="h", tz="UTC")
    n = len(ts)
    hours = np.arange(n)
    frames, city_rows = [], []
    for i in range(n_cities):
        country, sub, tz, lat, lon = _ZONES[i % len(_ZONES)]
        offset = ts.tz_convert(tz).tz_localize(None).hour.to_numpy()
        season = np.cos(2 * np.pi * (hours / 8766.0 - (0.55 if lat > 0 else 0.05)))
        temp = 12 + 12 * season + 5 * np.sin(2 * np.pi * (offset - 9) / 24) + rng.normal(0, 2, n)
        base = rng.uniform(300, 5000)
        daily = 0.15 * np.sin(2 * np.pi * (offset - 7) / 24)
        load = base * (1 + daily + 0.02 * np.abs(temp - 17) + rng.normal(0, 0.02, n))
        load[rng.random(n) < 0.005] = np.nan  # masked by cleaning
        frames.append(
            pd.DataFrame(
                {
                    "city_id": f"c{i:02d}",
                    "timestamp": ts,
                    "load_mw": load,
                    "temperature_c": temp,
                    "dewpoint_c": temp - rng.uniform(2, 8, n),
                    "wind_speed_ms": rng.gamma(2, 2, n),
                    "solar_wm2": np.clip(800 * np.sin(2 * np.pi * (offset - 6) / 24), 0, None),
                }
            )
        )
        city_rows.append(
            {
                "city_id": f"c{i:02d}",
                "name": f"city {i}",
                "country": country,
                "subdivision": sub,
                "timezone": tz,
                "lat": lat + rng.normal(0, 1),
                "lon": lon + rng.normal(0, 1),
                "population": rng.uniform(2e5, 8e6),
                "area_km2": np.nan if i == 3 else rng.uniform(100, 3000),
            }
        )
    events = pd.DataFrame(
        {
            "city_id": ["*", "c00", "c05"],
            "start": ["2020-03-20T00:00Z", "2019-07-01T00:00Z", "2021-06-01T00:00Z"],
            "end": ["2020-05-15T00:00Z", "2019-07-08T00:00Z", "2021-06-02T00:00Z"],
            "name": ["lockdown", "heat wave", "strike"],
            "kind": ["lockdown", "weather", "strike"],
            "direction": ["down", "up", "down"],
        }
    )
    return pd.concat(frames, ignore_index=True), pd.DataFrame(city_rows), events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="data set directory written by `energy data import`")
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lookback", type=int, default=168)
    ap.add_argument("--horizon", type=int, default=24)
    args = ap.parse_args()
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    if args.data:
        from energy.data.dataset import read_dataset

        ds = read_dataset(args.data)
        load, cities, events = ds.load, ds.cities, ds.events
    else:
        load, cities, events = synthetic()
    t_data = time.perf_counter() - t0
    print(f"data      {len(load):>9,} rows  {t_data:6.1f} s   rss {rss_gib():.2f} GiB")

    cut = load["timestamp"].min() + 0.8 * (load["timestamp"].max() - load["timestamp"].min())
    pipe = FeaturePipeline(FeatureConfig(horizon=args.horizon))
    t = time.perf_counter()
    pipe.fit(load[load["timestamp"] < cut], cities, events)
    t_fit = time.perf_counter() - t
    print(f"fit       {len(pipe.feature_names_):>9} feats {t_fit:6.1f} s   rss {rss_gib():.2f} GiB")
    t = time.perf_counter()
    frame = pipe.transform(load)
    t_transform = time.perf_counter() - t
    print(f"transform {frame.shape[0]:>9,} rows  {t_transform:6.1f} s   rss {rss_gib():.2f} GiB")
    t = time.perf_counter()
    windows = SequenceWindows.from_frame(frame, lookback=args.lookback, horizon=args.horizon)
    t_windows = time.perf_counter() - t
    print(
        f"windows   {len(windows):>9,} wins  {t_windows:6.1f} s   rss {rss_gib():.2f} GiB  "
        f"data {windows.data.nbytes / 2**30:.2f} GiB, past {windows.n_past}, "
        f"future {windows.n_future}"
    )
    loader = DataLoader(windows, batch_size=args.batch_size, shuffle=True, num_workers=0)
    t = time.perf_counter()
    n_batches = 0
    for n_batches, (past, future, target, city) in enumerate(loader, start=1):  # noqa: B007
        if n_batches >= args.batches:
            break
    t_iter = time.perf_counter() - t
    print(
        f"iterate   {n_batches:>9} batches {t_iter:5.1f} s   rss {rss_gib():.2f} GiB  "
        f"batch past {tuple(past.shape)} future {tuple(future.shape)} target "
        f"{tuple(target.shape)} city {tuple(city.shape)}"
    )
    result = {
        "windowing_peak_rss_gib": round(peak_rss_gib(), 3),
        "n_windows": len(windows),
        "rows": len(load),
        "n_features": len(pipe.feature_names_),
        "build_s": round(t_fit + t_transform + t_windows, 2),
        "fit_s": round(t_fit, 2),
        "transform_s": round(t_transform, 2),
        "windows_s": round(t_windows, 2),
        "batches_per_s": round(n_batches / t_iter, 1) if t_iter > 0 else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
