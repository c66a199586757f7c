"""`energy actuals ingest` and `energy monitor` on a real GEFCom2012 slice, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pandas as pd
import pytest

from energy.monitoring.store import ForecastRecord, open_store

pytestmark = [pytest.mark.monitoring, pytest.mark.data]


def energy(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "energy", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def gefcom_week(shared_data: Path, out: Path) -> pd.DataFrame:
    """Two zones, one week of May 2008, as the source has them: local clock, kW and °F."""
    raw = pd.read_parquet(
        shared_data / "gefcom2012_load" / "gefcom2012_hourly.parquet",
        columns=["timestamp", "region_id", "load_kw", "temp_f_mean"],
    )
    week = raw[
        (raw["timestamp"] >= "2008-05-01")
        & (raw["timestamp"] < "2008-05-08")
        & raw["region_id"].isin(["zone_01", "zone_02"])
    ]
    table = pd.DataFrame(
        {
            "city_id": week["region_id"].astype(str),
            "timestamp": week["timestamp"],
            "load_mw": week["load_kw"],
            "temperature_c": week["temp_f_mean"],
        }
    )
    table.to_csv(out, index=False)
    return table


def test_ingest_report_check(tmp_path: Path, shared_data: Path) -> None:
    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    src = tmp_path / "actuals.csv"
    table = gefcom_week(shared_data, src)
    got = energy(
        "actuals",
        "ingest",
        src,
        "--db",
        db,
        "--load-unit",
        "kw",
        "--temp-unit",
        "f",
        "--assume-tz",
        "Etc/GMT+5",
        "--json",
    )
    assert got.returncode == 0, got.stderr
    counts = json.loads(got.stdout)
    assert counts["inserted"] == len(table) == 2 * 7 * 24 and counts["cities"] == 2
    again = json.loads(
        energy(
            "actuals",
            "ingest",
            src,
            "--db",
            db,
            "--load-unit",
            "kw",
            "--temp-unit",
            "f",
            "--assume-tz",
            "Etc/GMT+5",
            "--json",
        ).stdout
    )
    assert again["unchanged"] == len(table)  # the same file twice changes nothing

    store = open_store(db)  # a day-ahead seasonal naive "served" for the last 6 days
    act = store.actuals().set_index(["city_id", "timestamp"])["load_mw"]
    recs = []
    for (city, t), _ in act.items():
        prev = act.get((city, t - pd.Timedelta(hours=24)))
        if prev is not None:
            origin = t.floor("D").to_pydatetime().astimezone(UTC)
            recs.append(
                ForecastRecord(
                    "r", city, origin, t.to_pydatetime(), t.hour + 1, float(prev), "naive", "7"
                )
            )
    store.add_forecasts(recs)

    out = tmp_path / "report"
    rep = energy("monitor", "report", "--db", db, "--since", "7000d", "--out", out)
    assert rep.returncode == 0, rep.stderr
    assert "zone_01" in rep.stdout and "MAPE" in rep.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scored_hours"] == len(recs)
    assert {"forecast_vs_actual.png", "rolling_mape_by_version.png", "drift_scores.png"} <= {
        p.name for p in out.iterdir()
    }
    chk = energy("monitor", "check", "--db", db)
    assert chk.returncode == 0, chk.stderr
    mig = energy("monitor", "migrate", "--db", db)
    assert "up to date" in mig.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("monitor", "report", "--since", "soon"), "--since: expected a duration"),
        (("actuals", "ingest", "missing.csv"), "missing.csv: file not found"),
    ],
)
def test_user_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    proc = energy(*args, "--db", f"sqlite:///{tmp_path / 'm.db'}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert message in line
