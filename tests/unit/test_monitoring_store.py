"""The monitoring store: versioned schema, ORM models matching it, upserts, UTC round trips."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from energy.monitoring import migrations
from energy.monitoring.store import Base, ForecastRecord, default_url, open_store

pytestmark = pytest.mark.unit


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'm' / 'monitor.db'}"


def test_upgrade_is_versioned_and_idempotent(tmp_path: Path) -> None:
    store = open_store(_url(tmp_path))
    with store.engine.connect() as conn:
        assert migrations.current_version(conn) == migrations.HEAD
    assert migrations.upgrade(store.engine) == []  # nothing left to apply


def test_orm_models_match_the_migrated_schema(tmp_path: Path) -> None:
    """A model change without a migration step fails here (no create_all drift)."""
    store = open_store(_url(tmp_path))
    insp = sa.inspect(store.engine)
    for table in Base.metadata.sorted_tables:
        have = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(have) == {c.name for c in table.columns}, table.name
        for col in table.columns:
            assert have[col.name]["nullable"] == col.nullable or col.primary_key, (
                f"{table.name}.{col.name}"
            )


def test_newer_database_is_refused(tmp_path: Path) -> None:
    store = open_store(_url(tmp_path))
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO schema_version VALUES (:v, 'future', :t)"),
            {"v": migrations.HEAD + 1, "t": datetime(2030, 1, 1)},
        )
    with pytest.raises(migrations.SchemaVersionError, match="newer than this release"):
        open_store(_url(tmp_path))


def test_default_url_reads_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from energy import home

    monkeypatch.delenv("ENERGY_MONITOR_DB", raising=False)
    monkeypatch.setenv("ENERGY_HOME", str(tmp_path))
    home.reset()
    assert default_url() == f"sqlite:///{tmp_path / 'monitoring' / 'monitor.db'}"
    monkeypatch.setenv("ENERGY_MONITOR_DB", "postgresql://u@h/db")
    assert default_url() == "postgresql://u@h/db"


def test_bad_url_is_one_line() -> None:
    with pytest.raises(ValueError, match="ENERGY_MONITOR_DB: not a database URL 'nope'"):
        open_store("nope")


def test_forecasts_join_actuals_and_revisions_upsert(tmp_path: Path) -> None:
    store = open_store(_url(tmp_path))
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    recs = [
        ForecastRecord("r1", "a", t0, t0 + pd.Timedelta(hours=h), h + 1, 100.0 + h, "m", "3")
        for h in range(3)
    ]
    assert store.add_forecasts(recs) == 3
    act = pd.DataFrame(
        {
            "city_id": ["a", "a"],
            "timestamp": pd.to_datetime(["2024-03-01 00:00", "2024-03-01 01:00"], utc=True),
            "load_mw": [110.0, 90.0],
        }
    )
    assert store.upsert_actuals(act) == {"inserted": 2, "revised": 0, "unchanged": 0}
    act.loc[1, "load_mw"] = 95.0  # a revised value
    assert store.upsert_actuals(act) == {"inserted": 0, "revised": 1, "unchanged": 1}
    got = store.scored(t0).sort_values("target_time")
    assert got["target_time"].dt.tz is not None  # UTC back out
    assert got["y"].tolist()[:2] == [110.0, 95.0] and pd.isna(got["y"].iloc[2])
    assert store.actuals()["revision"].tolist() == [0, 1]
