"""energy.data.cleaning on real data: the anomalies documented in ../shared/data/*/README.md.

The shared Parquet files are turned into canonical tables inline (not through the importers, so
these tests pin down cleaning alone). Each file is read and cleaned once per module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy.data.cleaning import clean

pytestmark = pytest.mark.data

PJM_CITIES = ("AEP", "COMED", "DOM", "FE", "PJMW")


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _row(df: pd.DataFrame, city: str, ts: pd.Timestamp) -> pd.Series:
    row = df[(df["city_id"] == city) & (df["timestamp"] == ts)]
    assert len(row) == 1
    return row.iloc[0]


@pytest.fixture(scope="module")
def gefcom(shared_data: Path) -> tuple[pd.DataFrame, dict]:
    """All 20 zones. Naive local clock with 24 h every day: a fixed UTC-5 offset (EST)."""
    cols = ["timestamp", "region_id", "load_kw", "temp_f_mean", "is_holiday"]
    g = pd.read_parquet(shared_data / "gefcom2012_load" / "gefcom2012_hourly.parquet", columns=cols)
    load = pd.DataFrame(
        {
            "city_id": g["region_id"].astype(str),
            "timestamp": g["timestamp"].dt.tz_localize("Etc/GMT+5").dt.tz_convert("UTC"),
            "load_mw": g["load_kw"].astype("float64") / 1000.0,
            "temperature_c": (g["temp_f_mean"].astype("float64") - 32.0) * 5.0 / 9.0,
            "is_holiday": g["is_holiday"].astype("boolean"),
        }
    )
    cities = pd.DataFrame(
        {"city_id": sorted(load["city_id"].unique()), "country": "US", "timezone": "Etc/GMT+5"}
    )
    return clean(load, cities)


@pytest.fixture(scope="module")
def pjm(shared_data: Path) -> tuple[pd.DataFrame, dict]:
    """A few PJM regions: already UTC hour-beginning and MW."""
    p = pd.read_parquet(
        shared_data / "pjm_hourly" / "pjm_hourly.parquet",
        columns=["timestamp_utc", "region_id", "load_mw"],
        filters=[("region_id", "in", list(PJM_CITIES))],
    )
    load = pd.DataFrame(
        {
            "city_id": p["region_id"].astype(str),
            "timestamp": p["timestamp_utc"],
            "load_mw": p["load_mw"].astype("float64"),
        }
    )
    tz = {"COMED": "America/Chicago"}
    cities = pd.DataFrame(
        {
            "city_id": list(PJM_CITIES),
            "country": "US",
            "timezone": [tz.get(c, "America/New_York") for c in PJM_CITIES],
        }
    )
    return clean(load, cities)


# ---- GEFCom2012 -------------------------------------------------------------------------------
def test_gefcom_zone_10_level_shift_at_2008_01(gefcom) -> None:
    _, rep = gefcom
    assert [(s["city_id"], s["at"]) for s in rep["level_shifts"]] == [("zone_10", "2008-01")]
    shift = rep["level_shifts"][0]
    assert shift["ratio"] > 2.5 and shift["months"] >= 2


def test_gefcom_missing_hours_stay_masked(gefcom) -> None:
    out, rep = gefcom
    missing = out[out["quality"] == "missing"]
    assert len(missing) == 360 and missing["load_mw"].isna().all()
    local = missing["timestamp"].dt.tz_convert("Etc/GMT+5")
    assert (local.dt.strftime("%Y-%m-%d") == "2008-06-30").all()
    assert sorted(local.dt.hour.unique()) == list(range(6, 24))
    assert rep["summary"]["inserted"] == 0 and rep["summary"]["rows_out"] == 792_000


def test_gefcom_exact_zeros_are_masked(gefcom) -> None:
    out, rep = gefcom
    row = _row(out, "zone_04", _utc("2004-11-25 23:00"))  # 18:00 local
    assert row["quality"] == "zero" and np.isnan(row["load_mw"]) and row["load_raw_mw"] == 0.0
    assert rep["cities"]["zone_04"]["zeros"] == 1 and rep["cities"]["zone_09"]["zeros"] == 2


def test_gefcom_identical_zones_reported(gefcom) -> None:
    _, rep = gefcom
    assert rep["identical_series"] == [["zone_03", "zone_07"]]


def test_gefcom_weather_peaks_are_not_outliers(gefcom) -> None:
    out, rep = gefcom
    share = {c: v["outliers"] / v["rows_out"] for c, v in rep["cities"].items()}
    assert sum(s < 0.001 for s in share.values()) >= 18, share
    # zone_09 is industrial load that is curtailed on the hottest and coldest hours (see notes)
    t = out["temperature_c"]
    extreme = (t >= t.quantile(0.99)) | (t <= t.quantile(0.01))
    flagged = (out["quality"] == "outlier") & extreme & (out["city_id"] != "zone_09")
    assert flagged.sum() <= 10
    assert any(n.startswith("zone_09:") for n in rep["notes"])


# ---- PJM --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("city", "ts", "raw"),
    [
        ("AEP", "2008-10-20 17:00", 25_695.0),  # label 2008-10-20 14:00 EDT, hour-ending
        ("DOM", "2009-12-12 04:00", 1_253.0),  # label 2009-12-12 00:00 EST
        ("PJMW", "2003-05-29 03:00", 487.0),  # label 2003-05-29 00:00 EDT
    ],
)
def test_pjm_single_hour_spikes_are_masked(pjm, city: str, ts: str, raw: float) -> None:
    out, _ = pjm
    row = _row(out, city, _utc(ts))
    assert row["quality"] == "outlier" and np.isnan(row["load_mw"]) and row["load_raw_mw"] == raw


def test_pjm_gaps_are_the_documented_ones(pjm) -> None:
    out, rep = pjm
    documented = {"AEP": 23, "COMED": 6, "DOM": 19, "FE": 6, "PJMW": 25}
    non_dst = {"AEP": 3, "DOM": 1, "PJMW": 1}  # 2010-12-09 23:00 EST; AEP 2 more
    for city, hours in documented.items():
        c = rep["cities"][city]
        assert c["gaps"]["hours"] == hours and c["gaps"]["longest_hours"] <= 2
        assert c["gaps"]["interpolated_hours"] == hours  # all short: filled and flagged
        assert c["dst_gaps"] == hours - non_dst.get(city, 0)
    assert (out.loc[out["quality"] == "interpolated", "load_mw"].notna()).all()
    assert rep["summary"]["rows_in"] + rep["summary"]["inserted"] == len(out)


def test_pjm_first_hour_zero_and_few_outliers(pjm) -> None:
    out, rep = pjm
    assert _row(out, "FE", _utc("2011-06-01 04:00"))["quality"] == "zero"
    for city, c in rep["cities"].items():
        assert c["outliers"] / c["rows_out"] < 0.001, city
    assert rep["level_shifts"] == [] and rep["identical_series"] == []


def test_real_loads_are_all_plausible(gefcom, pjm) -> None:
    """The plausibility bounds (issue 18) flag nothing in real data: documented spikes stay
    outliers, level shifts stay reported only."""
    for _, rep in (gefcom, pjm):
        assert rep["summary"]["implausible"] == 0
        assert rep["summary"]["by_reason"]["implausible"] == 0
