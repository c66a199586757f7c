import json

import numpy as np
import pandas as pd
import pytest

from energy import schema
from energy.data.dataset import (
    Dataset,
    DatasetError,
    build_manifest,
    content_hash,
    read_dataset,
    write_dataset,
)

pytestmark = pytest.mark.unit


def _ds() -> Dataset:
    ts = pd.date_range("2021-01-01", periods=48, freq="h", tz="UTC")
    load = pd.concat(
        [
            pd.DataFrame({"city_id": c, "timestamp": ts, "load_mw": np.linspace(1, 2, 48) * k})
            for c, k in (("a", 1), ("b", 3))
        ]
    )
    load = schema.validate_load(load)
    cities = schema.validate_cities(
        pd.DataFrame(
            {
                "city_id": ["a", "b"],
                "country": ["US", "FR"],
                "timezone": ["America/New_York", "Europe/Paris"],
            }
        )
    )
    ds = Dataset(load=load, cities=cities, quality={"summary": {"masked": 0}})
    ds.manifest = build_manifest(
        ds, source={"kind": "test"}, command="energy test", quality_summary={}
    )
    return ds


def test_round_trip_and_verified_hash(tmp_path):
    ds = _ds()
    write_dataset(ds, tmp_path / "d")
    back = read_dataset(tmp_path / "d", verify=True)
    pd.testing.assert_frame_equal(back.load, ds.load)
    assert back.manifest["content_hash"] == ds.manifest["content_hash"]
    assert back.manifest["rows"] == {"load": 96, "cities": 2, "events": 0}
    assert [c["city_id"] for c in back.manifest["cities"]] == ["a", "b"]


def test_hash_is_order_independent_and_value_sensitive():
    ds = _ds()
    h = content_hash(ds.load, ds.cities)
    assert content_hash(ds.load.sample(frac=1, random_state=0), ds.cities) == h
    changed = ds.load.copy()
    changed.loc[5, "load_mw"] += 1e-6
    assert content_hash(changed, ds.cities) != h


def test_tampered_files_fail_verification(tmp_path):
    ds = _ds()
    write_dataset(ds, tmp_path / "d")
    load = pd.read_parquet(tmp_path / "d" / "load.parquet")
    load.loc[0, "load_mw"] = 999.0
    load.to_parquet(tmp_path / "d" / "load.parquet")
    with pytest.raises(DatasetError, match=r"content hash of .* manifest says"):
        read_dataset(tmp_path / "d", verify=True)


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(DatasetError, match=r"--data: '.*nope' is not a directory"):
        read_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"has no load.parquet"):
        read_dataset(tmp_path / "empty")


def test_select_cities():
    ds = _ds()
    assert ds.select(["b"]).city_ids == ["b"]
    with pytest.raises(DatasetError, match=r"--cities: unknown city_id 'zz'"):
        ds.select(["zz"])


def test_manifest_is_plain_json(tmp_path):
    ds = _ds()
    write_dataset(ds, tmp_path / "d")
    m = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert m["source"] == {"kind": "test"} and m["versions"]["pandas"]
