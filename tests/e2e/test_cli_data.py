"""The `energy data` commands as a user runs them: real processes, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e


def energy(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "energy", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def assert_user_error(proc: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    assert pd.Series([lines[0]]).str.contains(pattern, regex=True).iloc[0], lines[0]


def test_import_isone_then_report(tmp_path, shared_data):
    out = tmp_path / "isone"
    proc = energy("data", "import", "isone", shared_data / "isone_smd_2017", "--out", out)
    assert proc.returncode == 0, proc.stderr
    for name in ("load.parquet", "cities.parquet", "manifest.json", "quality.json"):
        assert (out / name).is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"]["cities"] == 8
    assert manifest["source"]["kind"] == "isone"
    assert "energy data import isone" in manifest["command"]

    rep = energy("data", "report", "--data", out, "--plots", tmp_path / "plots")
    assert rep.returncode == 0, rep.stderr
    assert "(verified)" in rep.stdout and "NEMASSBOST" in rep.stdout
    assert (tmp_path / "plots" / "quality_overview.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "quality_CT.png").is_file()

    as_json = energy("data", "report", "--data", out, "--json")
    assert json.loads(as_json.stdout)["manifest"]["content_hash"] == manifest["content_hash"]


def test_canonical_import_and_bad_inputs(tmp_path):
    ts = pd.date_range("2022-01-01", periods=72, freq="h", tz="America/Chicago")
    good = pd.DataFrame(
        {
            "city_id": "austin",
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M%z"),
            "load_mw": 1000.0 + 10.0 * (ts.hour % 12),
            "temperature_c": 50.0 + (ts.hour % 5),
        }
    )
    good.to_csv(tmp_path / "load.csv", index=False)
    (tmp_path / "cities.yaml").write_text(
        "- city_id: austin\n  name: Austin\n  country: US\n  subdivision: US-TX\n"
        "  timezone: America/Chicago\n"
    )
    out = tmp_path / "ds"
    proc = energy(
        "data",
        "import",
        "canonical",
        tmp_path / "load.csv",
        "--cities",
        tmp_path / "cities.yaml",
        "--load-unit",
        "kw",
        "--temp-unit",
        "f",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    load = pd.read_parquet(out / "load.parquet")
    assert load["load_mw"].iloc[0] == pytest.approx(1.0)  # 1000 kW at local midnight
    assert load["temperature_c"].iloc[0] == pytest.approx(10.0)  # 50 °F
    assert (load["quality"] == "").all()
    assert str(load["timestamp"].dt.tz) == "UTC"

    bad = good.astype({"load_mw": object})
    bad.loc[5, "load_mw"] = "n/a?"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    proc = energy(
        "data",
        "import",
        "canonical",
        tmp_path / "bad.csv",
        "--cities",
        tmp_path / "cities.yaml",
        "--out",
        tmp_path / "x",
    )
    assert_user_error(proc, r"column 'load_mw', row 5 .*'n/a\?'.*not a number")
    assert not (tmp_path / "x").exists()

    dup = pd.concat([good, good.iloc[[3]]])
    dup.to_csv(tmp_path / "dup.csv", index=False)
    proc = energy(
        "data",
        "import",
        "canonical",
        tmp_path / "dup.csv",
        "--cities",
        tmp_path / "cities.yaml",
        "--out",
        tmp_path / "x",
    )
    assert_user_error(proc, r"duplicate \(city_id, timestamp\)")

    (tmp_path / "badtz.yaml").write_text(
        "- city_id: austin\n  country: US\n  timezone: Texas/Austin\n"
    )
    proc = energy(
        "data",
        "import",
        "canonical",
        tmp_path / "load.csv",
        "--cities",
        tmp_path / "badtz.yaml",
        "--out",
        tmp_path / "x",
    )
    assert_user_error(proc, r"'timezone'.*'Texas/Austin'.*unknown IANA time zone")

    (tmp_path / "empty.csv").write_text("")
    proc = energy(
        "data",
        "import",
        "canonical",
        tmp_path / "empty.csv",
        "--cities",
        tmp_path / "cities.yaml",
        "--out",
        tmp_path / "x",
    )
    assert_user_error(proc, r"empty")

    good.drop(columns="load_mw").to_csv(tmp_path / "nocol.csv", index=False)
    proc = energy(
        "data",
        "import",
        "canonical",
        tmp_path / "nocol.csv",
        "--cities",
        tmp_path / "cities.yaml",
        "--out",
        tmp_path / "x",
    )
    assert_user_error(proc, r"missing required column 'load_mw'")


def test_user_errors_are_one_line(tmp_path):
    assert_user_error(
        energy("data", "import", "nosuch", tmp_path, "--out", tmp_path / "o"),
        r"KIND: unknown data set kind 'nosuch'",
    )
    assert_user_error(
        energy("data", "report", "--data", tmp_path / "missing"), r"--data: .* is not a directory"
    )
    assert_user_error(
        energy("data", "import", "isone", tmp_path / "nope", "--out", tmp_path / "o"),
        r"SRC: .* does not exist",
    )
    (tmp_path / "policy.yaml").write_text("outlier_treshold: 3\n")
    assert_user_error(
        energy(
            "data",
            "import",
            "isone",
            tmp_path,
            "--out",
            tmp_path / "o",
            "--cleaning",
            tmp_path / "policy.yaml",
        ),
        r"outlier_treshold",
    )


def test_synth(tmp_path):
    proc = energy(
        "data", "synth", "--cities", "3", "--days", "20", "--seed", "1", "--out", tmp_path / "s"
    )
    assert proc.returncode == 0, proc.stderr
    m = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert m["rows"]["cities"] == 3 and m["source"]["kind"] == "synthetic"
    assert_user_error(
        energy("data", "synth", "--cities", "0", "--out", tmp_path / "z"),
        r"--cities: must be at least 1",
    )


def test_unknown_importer_option(tmp_path, shared_data):
    proc = energy(
        "data",
        "import",
        "isone",
        shared_data / "isone_smd_2017",
        "-o",
        "include_totl=true",
        "--out",
        tmp_path / "o",
    )
    assert_user_error(
        proc, r"--option: isone has no option 'include_totl' \(accepted: include_total\)"
    )


def test_out_never_destroys_the_input_or_a_foreign_folder(tmp_path):
    """Issue 18, item 1: `--out SRC_FOLDER` used to delete the source files."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "load.csv").write_text(
        "city_id,timestamp,load_mw\n"
        + "".join(f"a,2021-01-01T{h:02d}:00Z,{100 + h}\n" for h in range(24))
    )
    (src / "cities.yaml").write_text("cities:\n- city_id: a\n  country: US\n  timezone: UTC\n")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    args = ("data", "import", "canonical", src / "load.csv", "--cities", src / "cities.yaml")
    for flags in ((), ("--overwrite",)):
        assert_user_error(energy(*args, "--out", src, *flags), r"--out: .*contains the input")
        assert {p.name: p.read_bytes() for p in src.iterdir()} == before

    assert_user_error(energy(*args, "--out", src / "load.csv"), r"--out: .*load\.csv' is a file")
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    synth = ("data", "synth", "--cities", "1", "--days", "2", "--out", mine)
    assert_user_error(energy(*synth), r"--out: .*not written by energy.*--overwrite")
    assert (mine / "notes.txt").read_text() == "keep"
    assert energy(*synth, "--overwrite").returncode == 0
    assert energy(*args, "--out", mine).returncode == 0  # a data set energy wrote: replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "src"]


def test_implausible_imports_fail_in_one_line(tmp_path):
    """Issue 18, item 2: a year-2300 typo made a 1.1 GB data set and exit 0; 1e300 MW passed."""
    ts = pd.date_range("2021-01-01", periods=14 * 24, freq="h", tz="UTC")
    good = pd.DataFrame({"city_id": "a", "timestamp": ts, "load_mw": 100.0 + ts.hour})
    (tmp_path / "cities.yaml").write_text("cities:\n  a: {country: US, timezone: UTC}\n")

    def run(df: pd.DataFrame, name: str) -> tuple[subprocess.CompletedProcess[str], Path]:
        df.to_csv(tmp_path / f"{name}.csv", index=False)
        out = tmp_path / f"out_{name}"
        proc = energy("data", "import", "canonical", tmp_path / f"{name}.csv",
                      "--cities", tmp_path / "cities.yaml", "--out", out)  # fmt: skip
        return proc, out

    typo = good.astype({"timestamp": object})
    typo.loc[100, "timestamp"] = "2300-01-05T04:00:00+00:00"
    proc, out = run(typo, "typo")
    assert_user_error(proc, r"city 'a', timestamp 2300-01-05 04:00:00\+00:00: .*latest=2100-01-01")
    assert not out.exists()

    mostly = good.assign(load_mw=good["load_mw"].where(good.index % 4 == 0, 1e300))
    proc, out = run(mostly, "mostly")
    assert_user_error(proc, r"city 'a': 252 of 336 loads .* implausible.*max_implausible_share")
    assert not out.exists()

    one = good.assign(load_mw=good["load_mw"].where(good.index != 5, 1e300))
    one.loc[9, "load_mw"] = -40.0  # was a failed import; now one masked, reported row
    proc, out = run(one, "one")
    assert proc.returncode == 0, proc.stderr
    assert "implausible loads: 1 masked" in proc.stdout and "negative 1" in proc.stdout
    load = pd.read_parquet(out / "load.parquet")
    assert load.loc[5, "quality"] == "implausible" and load.loc[5, "load_raw_mw"] == 1e300
    assert load.loc[9, "quality"] == "negative" and load.loc[9, "load_raw_mw"] == -40.0
    assert load["load_mw"].isna().sum() == 2
