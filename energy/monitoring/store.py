"""The monitoring store: served forecasts, actuals, metrics, events and retraining requests.

SQLAlchemy 2 over SQLite by default (one file under the state folder) or PostgreSQL
(``ENERGY_MONITOR_DB=postgresql+psycopg://...``). The schema is versioned (``migrations.py``);
:func:`open_store` upgrades it. All times are UTC: stored naive, returned tz-aware.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from energy.home import monitoring_dir
from energy.monitoring import migrations


class Base(DeclarativeBase):
    pass


class ServedForecast(Base):
    """One hour of one served forecast (a 24 h forecast of one city is 24 rows)."""

    __tablename__ = "served_forecasts"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(sa.String(64))
    city_id: Mapped[str] = mapped_column(sa.String(64))
    origin: Mapped[datetime] = mapped_column(sa.DateTime)  # first forecast hour, UTC
    target_time: Mapped[datetime] = mapped_column(sa.DateTime)  # hour-beginning, UTC
    step: Mapped[int] = mapped_column(sa.Integer)  # 1 = origin hour
    value: Mapped[float] = mapped_column(sa.Float)  # MW
    quantiles: Mapped[dict[str, float] | None] = mapped_column(sa.JSON, nullable=True)
    temperature_c: Mapped[float | None] = mapped_column(sa.Float, nullable=True)  # input used
    model_name: Mapped[str] = mapped_column(sa.String(128))
    model_version: Mapped[str] = mapped_column(sa.String(32))
    arm: Mapped[str] = mapped_column(sa.String(32))
    served_at: Mapped[datetime] = mapped_column(sa.DateTime)


class Actual(Base):
    """Observed load (and temperature) of a city and hour; a revision replaces the value."""

    __tablename__ = "actuals"
    city_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(sa.DateTime, primary_key=True)
    load_mw: Mapped[float] = mapped_column(sa.Float)
    temperature_c: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    revision: Mapped[int] = mapped_column(sa.Integer)  # 0 first value, +1 per change
    received_at: Mapped[datetime] = mapped_column(sa.DateTime)


class Metric(Base):
    __tablename__ = "metrics"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    computed_at: Mapped[datetime] = mapped_column(sa.DateTime)
    window_h: Mapped[int] = mapped_column(sa.Integer)
    city_id: Mapped[str] = mapped_column(sa.String(64))  # "*" = all cities
    model_version: Mapped[str] = mapped_column(sa.String(32))
    bucket: Mapped[str] = mapped_column(sa.String(16))  # horizon bucket "1-6", or "all"
    metric: Mapped[str] = mapped_column(sa.String(32))
    value: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    n: Mapped[int] = mapped_column(sa.Integer)
    band_upper: Mapped[float | None] = mapped_column(sa.Float, nullable=True)


class Event(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime)
    kind: Mapped[str] = mapped_column(sa.String(32))
    key: Mapped[str] = mapped_column(sa.String(128))  # dedup key, e.g. the city
    severity: Mapped[str] = mapped_column(sa.String(16))
    message: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    notified: Mapped[bool] = mapped_column(sa.Boolean)


class RetrainRequest(Base):
    """Written on degradation or drift; the retraining job consumes ``status == 'open'`` rows."""

    __tablename__ = "retrain_requests"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime)
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("events.id"), nullable=True)
    reason: Mapped[str] = mapped_column(sa.String(32))
    city_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    model_version: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    payload: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)


class Baseline(Base):
    """What a model version's backtest promised: ``center`` and ``upper`` of the band."""

    __tablename__ = "baselines"
    model_version: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    city_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # "*" = overall
    metric: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    center: Mapped[float] = mapped_column(sa.Float)
    upper: Mapped[float] = mapped_column(sa.Float)
    scale: Mapped[float | None] = mapped_column(sa.Float, nullable=True)  # spread (std)
    source: Mapped[str] = mapped_column(sa.String(64))


@dataclass(frozen=True)
class ForecastRecord:
    """One served forecast hour as the logger queues it (times tz-aware UTC)."""

    request_id: str
    city_id: str
    origin: datetime
    target_time: datetime
    step: int
    value: float
    model_name: str
    model_version: str
    arm: str = "champion"
    served_at: datetime | None = None
    temperature_c: float | None = None
    quantiles: dict[str, float] | None = None


def default_url() -> str:
    """``ENERGY_MONITOR_DB``, else SQLite at ``<ENERGY_HOME>/monitoring/monitor.db``."""
    url = os.environ.get("ENERGY_MONITOR_DB")
    if url:
        return url
    return f"sqlite:///{monitoring_dir() / 'monitor.db'}"


def _naive(t: Any) -> datetime:
    """Any timestamp → naive UTC ``datetime`` (naive input is taken as UTC)."""
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.tz_localize(None).to_pydatetime()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """Reads and writes the monitoring tables. Thread-safe (one pooled engine)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)

    # ---- writes -------------------------------------------------------------------------------
    def add_forecasts(self, records: Sequence[ForecastRecord]) -> int:
        """Insert served forecast hours in one transaction; return how many."""
        if not records:
            return 0
        now = _naive(utcnow())
        rows = []
        for r in records:
            d = asdict(r)
            for k in ("origin", "target_time"):
                d[k] = _naive(d[k])
            d["served_at"] = _naive(d["served_at"]) if d["served_at"] is not None else now
            rows.append(d)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(ServedForecast), rows)
        return len(rows)

    def upsert_actuals(self, load: pd.DataFrame) -> dict[str, int]:
        """Insert or revise actuals (canonical ``city_id, timestamp, load_mw[, temperature_c]``).

        Returns:
            ``{"inserted": n, "revised": n, "unchanged": n}``.
        """
        now = _naive(utcnow())
        temp = load["temperature_c"] if "temperature_c" in load else pd.Series(None, load.index)
        incoming = {
            (str(c), _naive(t)): (float(y), None if pd.isna(x) else float(x))
            for c, t, y, x in zip(
                load["city_id"], load["timestamp"], load["load_mw"], temp, strict=True
            )
        }
        counts = {"inserted": 0, "revised": 0, "unchanged": 0}
        with self.engine.begin() as conn:
            cities = sorted({c for c, _ in incoming})
            times = [t for _, t in incoming]
            have = (
                {
                    (r.city_id, r.timestamp): r
                    for r in conn.execute(
                        sa.select(Actual).where(
                            Actual.city_id.in_(cities),
                            Actual.timestamp.between(min(times), max(times)),
                        )
                    )
                }
                if incoming
                else {}
            )
            new, changed = [], []
            for (c, t), (y, x) in incoming.items():
                old = have.get((c, t))
                row = {"city_id": c, "timestamp": t, "load_mw": y, "temperature_c": x}
                if old is None:
                    new.append({**row, "revision": 0, "received_at": now})
                elif old.load_mw != y or (x is not None and old.temperature_c != x):
                    x = x if x is not None else old.temperature_c
                    changed.append({**row, "temperature_c": x, "revision": old.revision + 1})
                else:
                    counts["unchanged"] += 1
            if new:
                conn.execute(sa.insert(Actual), new)
            for row in changed:
                conn.execute(
                    sa.update(Actual)
                    .where(Actual.city_id == row["city_id"], Actual.timestamp == row["timestamp"])
                    .values(**row, received_at=now)
                )
        counts["inserted"], counts["revised"] = len(new), len(changed)
        return counts

    def add_metrics(self, table: pd.DataFrame, computed_at: Any) -> None:
        """Rows of :func:`energy.monitoring.accuracy.rolling_accuracy` (long format)."""
        if table.empty:
            return
        rows = table.assign(computed_at=_naive(computed_at)).to_dict("records")
        for r in rows:
            r["value"] = None if pd.isna(r["value"]) else float(r["value"])
            up = r.get("band_upper")
            r["band_upper"] = None if up is None or pd.isna(up) else float(up)
        cols = {c.name for c in Metric.__table__.columns} - {"id"}
        with self.engine.begin() as conn:
            conn.execute(sa.insert(Metric), [{k: r.get(k) for k in cols} for r in rows])

    def add_event(
        self,
        kind: str,
        key: str,
        message: str,
        *,
        severity: str = "warning",
        payload: dict[str, Any] | None = None,
        notified: bool = False,
        at: Any = None,
    ) -> int:
        with self.engine.begin() as conn:
            res = conn.execute(
                sa.insert(Event).values(
                    created_at=_naive(at if at is not None else utcnow()),
                    kind=kind,
                    key=key,
                    severity=severity,
                    message=message,
                    payload=payload,
                    notified=notified,
                )
            )
            return int(res.inserted_primary_key[0])  # type: ignore[index]

    def add_retrain_request(
        self,
        reason: str,
        *,
        event_id: int | None = None,
        city_id: str | None = None,
        model_version: str | None = None,
        payload: dict[str, Any] | None = None,
        at: Any = None,
    ) -> int:
        with self.engine.begin() as conn:
            res = conn.execute(
                sa.insert(RetrainRequest).values(
                    created_at=_naive(at if at is not None else utcnow()),
                    event_id=event_id,
                    reason=reason,
                    city_id=city_id,
                    model_version=model_version,
                    status="open",
                    payload=payload,
                )
            )
            return int(res.inserted_primary_key[0])  # type: ignore[index]

    def set_baselines(self, version: str, rows: Iterable[tuple[Any, ...]], source: str) -> None:
        """Replace a version's bands: ``(city_id or "*", metric, center, upper[, scale])`` rows
        (``scale``: the metric's spread in the backtest, e.g. the std of the period residual)."""
        values = [
            {
                "model_version": version,
                "city_id": r[0],
                "metric": r[1],
                "center": float(r[2]),
                "upper": float(r[3]),
                "scale": float(r[4]) if len(r) > 4 else None,
                "source": source,
            }
            for r in rows
        ]
        with self.engine.begin() as conn:
            conn.execute(sa.delete(Baseline).where(Baseline.model_version == version))
            if values:
                conn.execute(sa.insert(Baseline), values)

    # ---- reads --------------------------------------------------------------------------------
    def _frame(self, stmt: Any, times: Sequence[str]) -> pd.DataFrame:
        with self.engine.connect() as conn:
            res = conn.execute(stmt)
            cols = list(res.keys())
            df = pd.DataFrame([tuple(r) for r in res.fetchall()], columns=cols)
        for c in times:
            df[c] = pd.to_datetime(df[c]).dt.tz_localize("UTC") if len(df) else df[c]
        return df

    def scored(self, since: Any, until: Any = None) -> pd.DataFrame:
        """Served forecast hours with ``target_time`` in [since, until) joined to their actual
        (``y``, NaN when not arrived), one row per served hour."""
        f, a = ServedForecast, Actual
        stmt = (
            sa.select(
                f.request_id,
                f.city_id,
                f.origin,
                f.target_time,
                f.step,
                f.value,
                f.temperature_c,
                f.model_version,
                f.arm,
                a.load_mw.label("y"),
                a.temperature_c.label("temperature_obs"),
            )
            .outerjoin(a, sa.and_(a.city_id == f.city_id, a.timestamp == f.target_time))
            .where(f.target_time >= _naive(since))
        )
        if until is not None:
            stmt = stmt.where(f.target_time < _naive(until))
        return self._frame(stmt, ("origin", "target_time"))

    def actuals(self, since: Any = None, until: Any = None) -> pd.DataFrame:
        """Actuals with ``timestamp`` in [since, until) (either bound optional)."""
        t = Actual.__table__
        stmt = sa.select(*t.c).order_by(t.c.city_id, t.c.timestamp)
        if since is not None:
            stmt = stmt.where(t.c.timestamp >= _naive(since))
        if until is not None:
            stmt = stmt.where(t.c.timestamp < _naive(until))
        return self._frame(stmt, ("timestamp", "received_at"))

    def baselines(self) -> pd.DataFrame:
        t = Baseline.__table__
        return self._frame(sa.select(*t.c), ())

    def events(self, since: Any = None, kind: str | None = None) -> pd.DataFrame:
        t = Event.__table__
        stmt = sa.select(*t.c).order_by(t.c.id)
        if since is not None:
            stmt = stmt.where(t.c.created_at >= _naive(since))
        if kind is not None:
            stmt = stmt.where(t.c.kind == kind)
        return self._frame(stmt, ("created_at",))

    def last_event_time(self, kind: str, key: str) -> datetime | None:
        """When an event of this kind and key was last *notified* (for the cooldown)."""
        t = Event.__table__
        stmt = sa.select(sa.func.max(t.c.created_at)).where(
            t.c.kind == kind, t.c.key == key, t.c.notified.is_(True)
        )
        with self.engine.connect() as conn:
            got = conn.execute(stmt).scalar()
        return got.replace(tzinfo=UTC) if got is not None else None

    def retrain_requests(self, status: str | None = "open") -> pd.DataFrame:
        t = RetrainRequest.__table__
        stmt = sa.select(*t.c).order_by(t.c.id)
        if status is not None:
            stmt = stmt.where(t.c.status == status)
        return self._frame(stmt, ("created_at",))

    def metrics(self, since: Any = None) -> pd.DataFrame:
        t = Metric.__table__
        stmt = sa.select(*t.c).order_by(t.c.id)
        if since is not None:
            stmt = stmt.where(t.c.computed_at >= _naive(since))
        return self._frame(stmt, ("computed_at",))

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                m.__tablename__: int(
                    conn.execute(sa.select(sa.func.count()).select_from(m)).scalar() or 0
                )
                for m in (ServedForecast, Actual, Metric, Event, RetrainRequest)
            }


def open_store(
    url: str | None = None, *, upgrade: bool = True, lock_timeout_s: float = 30.0
) -> Store:
    """Connect (``url`` or :func:`default_url`), create the SQLite folder, upgrade the schema.

    ``lock_timeout_s``: how long a SQLite write waits for another writer's lock before failing.

    Raises:
        migrations.SchemaVersionError: the database is newer than this code.
        ValueError: the URL cannot be parsed.
    """
    url = url or default_url()
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ValueError(f"ENERGY_MONITOR_DB: not a database URL {url!r}") from None
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        # replicas and the CLI write one file: wait for the lock rather than fail at once
        kwargs["connect_args"] = {"timeout": lock_timeout_s, "check_same_thread": False}
    engine = sa.create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    if upgrade:
        migrations.upgrade(engine)
    return Store(engine)


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the replicas' writer
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
