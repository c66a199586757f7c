"""Actuals files: the import's validation (named errors), units, upsert of late/revised hours."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from energy.data.importers import SourceError
from energy.monitoring.actuals import ingest_file, ingest_records, read_actuals
from energy.monitoring.store import open_store
from energy.schema import SchemaError

pytestmark = pytest.mark.unit


def _csv(path: Path, rows: str) -> Path:
    path.write_text("city_id,timestamp,load_mw,temperature_c\n" + rows)
    return path


def test_read_converts_units_and_time(tmp_path: Path) -> None:
    f = _csv(tmp_path / "a.csv", "a,2024-01-01T01:00-05:00,2000,50\n")
    got = read_actuals(f, load_unit="kw", temp_unit="f")
    assert got["timestamp"].iloc[0] == pd.Timestamp("2024-01-01 06:00", tz="UTC")
    assert got["load_mw"].iloc[0] == 2.0 and got["temperature_c"].iloc[0] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("a,2024-01-01T00:00Z,-5,\n", "column 'load_mw', row 0 .*: value -5.0: negative load"),
        ("a,2024-01-01T00:30Z,5,\n", "not on the hour"),
        ("a,2024-01-01T00:00Z,,\n", "missing load"),
        ("a,2024-01-01T00:00,5,\n", "timestamps have no time zone"),
        ("a,2024-01-01T00:00Z,5,90\n", "column 'temperature_c'.*outside the plausible range"),
    ],
)
def test_invalid_rows_fail_with_one_line(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        read_actuals(_csv(tmp_path / "a.csv", rows))


def test_late_and_revised_actuals_upsert(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'monitor.db'}")
    f = _csv(tmp_path / "a.csv", "a,2024-01-01T00:00Z,5,1\na,2024-01-01T01:00Z,6,1\n")
    assert ingest_file(store, f)["inserted"] == 2
    f = _csv(tmp_path / "b.csv", "a,2024-01-01T01:00Z,7,1\na,2024-01-01T02:00Z,8,\n")
    got = ingest_file(store, f)
    assert (got["inserted"], got["revised"], got["unchanged"]) == (1, 1, 0)
    assert store.actuals()["load_mw"].tolist() == [5.0, 7.0, 8.0]
    with pytest.raises(SchemaError, match="missing required column 'load_mw'"):
        ingest_records(store, [{"city_id": "a", "timestamp": "2024-01-01T00:00Z"}])
