"""Property: the real-format importers never drop a valid row silently (issue 18, standing checks).

Hypothesis takes a slice of each real source file (../shared/data), keeps a random subset of its
rows in a random order, writes it where the importer looks for it, and imports it. Every row must
come out (once, on its UTC hour, with its load converted but not lost, and still there after
cleaning) or be counted in ``dropped`` with the reason; nothing else may vanish.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy.data.cleaning import clean
from energy.data.importers import registry

pytestmark = pytest.mark.data

PROPERTY = settings(
    max_examples=8,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@dataclass(frozen=True)
class Source:
    """Where an importer finds its rows and how a source row maps to a canonical one."""

    folder: str
    file: str
    time: str  # source time column
    tz: str | None  # zone of naive source times (None: already UTC)
    load: str  # source load column
    to_mw: float  # unit factor of ``load``
    window: tuple[str, str]  # slice of the source times read for the test (local/UTC as stored)
    options: list[dict[str, Any]] = field(default_factory=lambda: [{}])


SOURCES = {
    "isone": Source(
        "isone_smd_2017", "isone_smd_2017_hourly.parquet", "timestamp_utc", None, "demand_mw",
        1.0, ("2017-03-11", "2017-03-14"), [{}, {"include_total": True}],
    ),
    "pjm": Source(
        "pjm_hourly", "pjm_hourly.parquet", "timestamp_utc", None, "load_mw", 1.0,
        ("2014-11-01", "2014-11-04"), [{}, {"regions": ["AEP", "DOM"]}],
    ),
    "tetouan": Source(
        "tetouan_city", "tetouan_hourly.parquet", "timestamp_local", "Etc/GMT", "load_kw", 1e-3,
        ("2017-06-01", "2017-06-04"),
    ),
    "bigdeal": Source(
        "bigdeal2022", "bigdeal2022_final_hourly.parquet", "timestamp", "Etc/GMT+5", "load", 1.0,
        ("2018-10-30", "2018-11-02"),
    ),
    "gefcom2012": Source(
        "gefcom2012_load", "gefcom2012_hourly.parquet", "timestamp", "Etc/GMT+5", "load_kw", 1e-3,
        ("2008-06-29", "2008-07-01"),
    ),
}  # fmt: skip


def _slice(shared_data: Path, src: Source) -> pd.DataFrame:
    df = pd.read_parquet(shared_data / src.folder / src.file)
    lo, hi = (pd.Timestamp(t, tz="UTC" if src.tz is None else None) for t in src.window)
    return df[(df[src.time] >= lo) & (df[src.time] < hi)].reset_index(drop=True)


@pytest.fixture(scope="module")
def slices(shared_data: Path) -> dict[str, pd.DataFrame]:
    return {kind: _slice(shared_data, src) for kind, src in SOURCES.items()}


def _utc(src: Source, times: pd.Series) -> pd.Series:
    t = times if src.tz is None else times.dt.tz_localize(src.tz)
    return t.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


@pytest.mark.parametrize("kind", sorted(SOURCES))
@PROPERTY
@given(data=st.data())
def test_importers_keep_or_count_every_row(
    slices: dict[str, pd.DataFrame], kind: str, data: st.DataObject
) -> None:
    src, full = SOURCES[kind], slices[kind]
    keep = data.draw(st.lists(st.booleans(), min_size=len(full), max_size=len(full)), "keep")
    seed = data.draw(st.integers(0, 2**32 - 1), "order")
    options = data.draw(st.sampled_from(src.options), "options")
    rows = full[np.asarray(keep, dtype=bool)]
    rows = rows.iloc[np.random.default_rng(seed).permutation(len(rows))].reset_index(drop=True)
    selected = rows["region_id"].astype(str)
    if "regions" in options:
        selected = selected[selected.isin(options["regions"])]
    elif not options.get("include_total", True):
        selected = selected[selected != "ISONE_CA"]
    if selected.empty:
        return  # nothing importable: the importer's error is the right answer, tested elsewhere
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / src.folder).mkdir()
        rows.to_parquet(Path(tmp) / src.folder / src.file, index=False)
        raw = registry()[kind](Path(tmp) / src.folder, **options)

    counted = sum(d.get("rows", 0) for d in raw.dropped)
    assert len(raw.load) + counted == len(rows), raw.dropped
    expected = pd.DataFrame(
        {
            "city_id": rows["region_id"].astype(str),
            "timestamp": _utc(src, rows[src.time]),
            "source_mw": rows[src.load].astype("float64") * src.to_mw,
        }
    )
    got = raw.load.merge(expected, on=["city_id", "timestamp"], how="left", indicator=True)
    assert (got["_merge"] == "both").all() and len(got) == len(raw.load)  # nothing invented
    np.testing.assert_allclose(got["load_mw"], got["source_mw"], rtol=1e-6)  # NaN stays NaN

    cleaned, report = clean(raw.load, raw.cities)
    back = raw.load.merge(cleaned, on=["city_id", "timestamp"], how="left", suffixes=("", "_out"))
    np.testing.assert_array_equal(back["load_raw_mw"], back["load_mw"])
    assert report["summary"]["rows_in"] == len(raw.load)
