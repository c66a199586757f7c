"""Property: the canonical importer never drops a valid row silently (issue 18, standing checks).

Hypothesis writes random valid load tables — any city ids, any set of hours, NaN and zero loads,
UTC, offset or naive timestamps, CSV or Parquet, rows in any order, an extra column — and imports
them end to end (``energy.data.ingest.import_dataset``: read, validate, clean, write). Every input
row must come out exactly once, on its UTC hour, with its value in ``load_raw_mw``, and unchanged in
``load_mw`` unless its ``quality`` says why; the only additions are inserted hours, and nothing
lands in ``dropped`` without saying how many rows.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy.data.dataset import read_dataset
from energy.data.ingest import import_dataset

pytestmark = pytest.mark.unit

# fixed seed, no example database in the repository, no timing limits on a shared 2-core machine
PROPERTY = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FORMATS = ("csv-utc", "csv-offset", "csv-naive", "parquet")
NAIVE_TZ = "Etc/GMT-3"  # a fixed offset: naive local times are never ambiguous
OFFSET_TZ = "America/New_York"  # offsets change across DST: both sides must come through


city_ids = st.one_of(
    st.text(alphabet="abcxyzABC019_-.", min_size=1, max_size=8),
    st.sampled_from(["007", "NA", "null", "None", "nan", "zone 1", "Zürich"]),
)
loads = st.one_of(
    st.floats(min_value=0, max_value=1e5, allow_nan=False),
    st.just(0.0),
    st.just(float("nan")),
)


@st.composite
def load_tables(draw: st.DrawFn) -> pd.DataFrame:
    """A valid canonical load table: unique (city_id, timestamp), on the hour, loads ≥ 0 or NaN."""
    ids = draw(st.lists(city_ids, min_size=1, max_size=3, unique=True))
    start = pd.Timestamp(draw(st.datetimes(pd.Timestamp("1990-01-01"), pd.Timestamp("2090-01-01"))))
    start = start.floor("h").tz_localize("UTC")
    frames = []
    for city in ids:
        hours = sorted(draw(st.sets(st.integers(0, 24 * 10), min_size=1, max_size=60)))
        values = draw(st.lists(loads, min_size=len(hours), max_size=len(hours)))
        frames.append(
            pd.DataFrame(
                {
                    "city_id": city,
                    "timestamp": start + pd.to_timedelta(hours, unit="h"),
                    "load_mw": values,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    order = draw(st.permutations(range(len(df))))
    return df.iloc[list(order)].reset_index(drop=True)


def _write(df: pd.DataFrame, fmt: str, folder: Path) -> tuple[Path, str | None]:
    """The table as the user's file; returns its path and the ``assume_tz`` it needs."""
    out = df.assign(note="extra column, not imported")
    if fmt == "parquet":
        out.to_parquet(folder / "load.parquet", index=False)
        return folder / "load.parquet", None
    ts = out["timestamp"]
    if fmt == "csv-utc":
        out["timestamp"] = ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif fmt == "csv-offset":
        out["timestamp"] = ts.dt.tz_convert(OFFSET_TZ).map(lambda t: t.isoformat())
    else:
        out["timestamp"] = ts.dt.tz_convert(NAIVE_TZ).dt.strftime("%Y-%m-%d %H:%M")
    out.to_csv(folder / "load.csv", index=False)
    return folder / "load.csv", NAIVE_TZ if fmt == "csv-naive" else None


def _cities_yaml(ids: list[str], nested: bool) -> str:
    rows = "".join(f"- {{city_id: {c!r}, country: US, timezone: UTC}}\n" for c in ids)
    return "cities:\n" + rows if nested else rows


@PROPERTY
@given(df=load_tables(), fmt=st.sampled_from(FORMATS), nested=st.booleans())
def test_canonical_import_keeps_every_valid_row(df: pd.DataFrame, fmt: str, nested: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src, assume_tz = _write(df, fmt, folder)
        (folder / "cities.yaml").write_text(_cities_yaml(sorted(df["city_id"].unique()), nested))
        options = {"cities": folder / "cities.yaml", "assume_tz": assume_tz}
        ds = import_dataset("canonical", src, folder / "out", options=options)
        back = read_dataset(folder / "out", verify=True)

    pd.testing.assert_frame_equal(back.load, ds.load)
    out = ds.load
    joined = df.merge(
        out, on=["city_id", "timestamp"], how="left", suffixes=("_in", ""), indicator=True
    )
    assert (joined["_merge"] == "both").all(), joined[joined["_merge"] != "both"].head()
    assert len(joined) == len(df)  # each input row matched exactly one output row
    raw_in, raw_out = joined["load_mw_in"].to_numpy(), joined["load_raw_mw"].to_numpy()
    np.testing.assert_array_equal(raw_out, raw_in)  # NaN == NaN here
    kept = joined["quality"].astype(str) == ""
    np.testing.assert_array_equal(joined.loc[kept, "load_mw"], joined.loc[kept, "load_mw_in"])
    assert not joined.loc[~kept, "quality"].isin(["inserted_gap", "interpolated"]).any()

    summary = ds.quality["summary"]
    assert summary["rows_in"] == len(df)
    assert len(out) == len(df) + summary["inserted"]
    assert ds.manifest["quality_summary"]["dropped_on_import_rows"] == 0
    assert [d["columns"] for d in ds.quality["dropped_on_import"]] == [["note"]]
    assert ds.manifest["rows"]["load"] == len(out)
