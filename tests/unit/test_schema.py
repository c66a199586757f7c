import numpy as np
import pandas as pd
import pytest

from energy import schema
from energy.schema import SchemaError

pytestmark = pytest.mark.unit


def _load(n: int = 3, **cols) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "city_id": ["a"] * n,
            "timestamp": pd.date_range("2021-01-01", periods=n, freq="h", tz="UTC"),
            "load_mw": np.arange(1.0, n + 1),
        }
    )
    for k, v in cols.items():
        df[k] = v
    return df


def test_valid_table_gets_canonical_dtypes():
    out = schema.validate_load(_load(temperature_c=[1, 2, 3], is_holiday=[0, 1, 0]))
    assert str(out["timestamp"].dtype) == "datetime64[us, UTC]"
    assert out["load_mw"].dtype == np.float64
    assert out["is_holiday"].tolist() == [False, True, False]


def test_offset_timestamps_are_converted_to_utc():
    df = _load()
    df["timestamp"] = ["2021-01-01T00:00-05:00", "2021-01-01T01:00-05:00", "2021-01-01T02:00-05:00"]
    out = schema.validate_load(df)
    assert out["timestamp"].iloc[0] == pd.Timestamp("2021-01-01 05:00", tz="UTC")


def test_missing_column():
    with pytest.raises(SchemaError, match=r"load table: missing required column 'load_mw'"):
        schema.validate_load(_load().drop(columns="load_mw"))


def test_text_in_load_column_names_row_and_value():
    df = _load()
    df["load_mw"] = ["1.0", "abc", "3"]
    with pytest.raises(
        SchemaError, match=r"column 'load_mw', row 1 \(city 'a', .*\): value 'abc'.*not a number"
    ):
        schema.validate_load(df)


def test_duplicate_timestamps():
    df = pd.concat([_load(2), _load(2).iloc[[1]]], ignore_index=True)
    with pytest.raises(
        SchemaError,
        match=r"duplicate \(city_id, timestamp\): row 2 \(city 'a', 2021-01-01 01:00:00\+00:00\)",
    ):
        schema.validate_load(df)


def test_negative_load():
    with pytest.raises(SchemaError, match=r"column 'load_mw', row 0 .*value -?-5.0: negative load"):
        schema.validate_load(_load(1).assign(load_mw=[-5.0]))


def test_naive_timestamps_rejected_without_zone():
    df = _load().assign(timestamp=pd.date_range("2021-01-01", periods=3, freq="h"))
    with pytest.raises(SchemaError, match=r"column 'timestamp': timestamps have no time zone"):
        schema.validate_load(df)


def test_not_on_the_hour():
    df = _load().assign(timestamp=pd.date_range("2021-01-01 00:30", periods=3, freq="h", tz="UTC"))
    with pytest.raises(SchemaError, match=r"not on the hour"):
        schema.validate_load(df)


def test_temperature_in_fahrenheit_is_caught_as_wrong_unit():
    with pytest.raises(
        SchemaError, match=r"column 'temperature_c', row 0 .* value 104.0.*wrong unit"
    ):
        schema.validate_load(_load(1, temperature_c=[104.0]))


def test_empty_table():
    with pytest.raises(SchemaError, match="load table is empty"):
        schema.validate_load(_load(0))


def test_unit_normalisation():
    df = _load(2, temperature_c=[32.0, 212.0])
    out = schema.normalise_units(df, load_unit="kW", temp_unit="F")
    assert out["load_mw"].tolist() == [0.001, 0.002]
    assert out["temperature_c"].tolist() == pytest.approx([0.0, 100.0])
    with pytest.raises(SchemaError, match=r"load unit: unknown unit 'btu'"):
        schema.normalise_units(df, load_unit="btu")


def _cities(**over):
    row = {
        "city_id": "a",
        "name": "A",
        "country": "us",
        "subdivision": "US-MA",
        "timezone": "America/New_York",
    }
    row.update(over)
    return pd.DataFrame([row])


def test_cities_unknown_values_stay_empty():
    out = schema.validate_cities(_cities())
    assert out["country"].iloc[0] == "US"
    assert np.isnan(out["population"].iloc[0]) and np.isnan(out["lat"].iloc[0])
    assert out["attrs"].iloc[0] == "{}"


def test_cities_unknown_timezone():
    with pytest.raises(
        SchemaError, match=r"column 'timezone', row 0: value 'Mars/Olympus'.*unknown IANA time zone"
    ):
        schema.validate_cities(_cities(timezone="Mars/Olympus"))


def test_cities_bad_subdivision_and_country():
    with pytest.raises(SchemaError, match=r"column 'subdivision'.*'Massachusetts'"):
        schema.validate_cities(_cities(subdivision="Massachusetts"))
    with pytest.raises(SchemaError, match=r"column 'country'.*'USA'"):
        schema.validate_cities(_cities(country="USA"))


def test_events_validation():
    ev = pd.DataFrame(
        [
            {
                "city_id": "*",
                "start": "2021-07-04T00:00Z",
                "end": "2021-07-05T00:00Z",
                "name": "x",
                "kind": "festival",
            }
        ]
    )
    out = schema.validate_events(ev, city_ids=["a"])
    assert out["direction"].iloc[0] == ""
    bad = ev.assign(end="2021-07-03T00:00Z")
    with pytest.raises(SchemaError, match=r"column 'end'.*not after 'start'"):
        schema.validate_events(bad)
    with pytest.raises(SchemaError, match=r"column 'city_id'.*'zz'.*unknown city"):
        schema.validate_events(ev.assign(city_id="zz"), city_ids=["a"])
