"""Versioned schema of the monitoring store: numbered steps and a version table.

Each step is frozen DDL (its own ``MetaData``), never the current ORM models, so that a database
created by an old release and one created today end at the same schema. ``upgrade`` applies the
missing steps in order, each in its own transaction, and records them in ``schema_version``.
``tests/unit/test_monitoring_store.py`` checks that the ORM models in ``store.py`` match the
migrated tables column for column: a model change without a new step fails there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

VERSION_TABLE = "schema_version"


class SchemaVersionError(RuntimeError):
    """The database was written by a newer release (its version is above this code's)."""


def _v1(conn: Connection) -> None:
    """Served forecasts, actuals, metrics, events, retraining requests, version baselines."""
    md = sa.MetaData()
    ts = sa.DateTime()  # naive UTC everywhere (SQLite has no time zones)
    sa.Table(
        "served_forecasts",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("city_id", sa.String(64), nullable=False),
        sa.Column("origin", ts, nullable=False),
        sa.Column("target_time", ts, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("quantiles", sa.JSON, nullable=True),
        sa.Column("temperature_c", sa.Float, nullable=True),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("arm", sa.String(32), nullable=False),
        sa.Column("served_at", ts, nullable=False),
        sa.Index("ix_served_city_target", "city_id", "target_time"),
        sa.Index("ix_served_version", "model_version"),
    )
    sa.Table(
        "actuals",
        md,
        sa.Column("city_id", sa.String(64), primary_key=True),
        sa.Column("timestamp", ts, primary_key=True),
        sa.Column("load_mw", sa.Float, nullable=False),
        sa.Column("temperature_c", sa.Float, nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("received_at", ts, nullable=False),
    )
    sa.Table(
        "metrics",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("computed_at", ts, nullable=False),
        sa.Column("window_h", sa.Integer, nullable=False),
        sa.Column("city_id", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("bucket", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("band_upper", sa.Float, nullable=True),
        sa.Index("ix_metrics_time", "computed_at"),
    )
    sa.Table(
        "events",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=True),
        sa.Column("notified", sa.Boolean, nullable=False),
        sa.Index("ix_events_kind_key", "kind", "key", "created_at"),
    )
    sa.Table(
        "retrain_requests",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id"), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("city_id", sa.String(64), nullable=True),
        sa.Column("model_version", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON, nullable=True),
    )
    sa.Table(
        "baselines",
        md,
        sa.Column("model_version", sa.String(32), primary_key=True),
        sa.Column("city_id", sa.String(64), primary_key=True),
        sa.Column("metric", sa.String(32), primary_key=True),
        sa.Column("center", sa.Float, nullable=False),
        sa.Column("upper", sa.Float, nullable=False),
        sa.Column("scale", sa.Float, nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
    )
    md.create_all(conn)


# (version, what it does, step). Append only; never edit a released step.
STEPS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema", _v1),
]
HEAD = STEPS[-1][0]


def current_version(conn: Connection) -> int:
    """The schema version recorded in the database (0: empty database)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return 0
    got = conn.execute(sa.text(f"SELECT MAX(version) FROM {VERSION_TABLE}")).scalar()
    return int(got or 0)


def upgrade(engine: Engine) -> list[int]:
    """Apply the missing steps; return the versions applied (empty when up to date).

    Raises:
        SchemaVersionError: the database is newer than this code.
    """
    with engine.begin() as conn:
        sa.Table(
            VERSION_TABLE,
            sa.MetaData(),
            sa.Column("version", sa.Integer, primary_key=True),
            sa.Column("description", sa.String(200), nullable=False),
            sa.Column("applied_at", sa.DateTime, nullable=False),
        ).create(conn, checkfirst=True)
        have = current_version(conn)
    if have > HEAD:
        raise SchemaVersionError(
            f"monitoring store: schema version {have} is newer than this release's {HEAD}"
        )
    applied = []
    for version, description, step in STEPS:
        if version <= have:
            continue
        with engine.begin() as conn:
            step(conn)
            conn.execute(
                sa.text(f"INSERT INTO {VERSION_TABLE} VALUES (:v, :d, :t)"),
                {"v": version, "d": description, "t": datetime.now(UTC).replace(tzinfo=None)},
            )
        applied.append(version)
    return applied
