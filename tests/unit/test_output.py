"""Writing a data set never destroys what the user did not ask to replace (issue 18, item 1).

Before the fix, ``write_dataset`` removed ``--out`` whatever it held: the source files when the
input folder was given as ``--out``, any folder of the user's, and a sibling ``OUT.tmp``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy import schema
from energy.data.dataset import Dataset, build_manifest, read_dataset, write_dataset
from energy.data.ingest import import_dataset, synth_dataset
from energy.data.output import OutputError

pytestmark = pytest.mark.unit

LOAD_CSV = "city_id,timestamp,load_mw\n" + "".join(
    f"a,2021-01-01T{h:02d}:00Z,{100 + h}\n" for h in range(24)
)
CITIES_YAML = "a:\n  country: US\n  timezone: America/New_York\n"


def _ds(scale: float = 1.0) -> Dataset:
    ts = pd.date_range("2021-01-01", periods=24, freq="h", tz="UTC")
    load = schema.validate_load(
        pd.DataFrame({"city_id": "a", "timestamp": ts, "load_mw": np.linspace(1, 2, 24) * scale})
    )
    cities = schema.validate_cities(
        pd.DataFrame({"city_id": ["a"], "country": ["US"], "timezone": ["UTC"]})
    )
    ds = Dataset(load=load, cities=cities, quality={})
    ds.manifest = build_manifest(ds, source={"kind": "test"}, command="test", quality_summary={})
    return ds


def _snapshot(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file below ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _source(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "load.csv").write_text(LOAD_CSV)
    (folder / "cities.yaml").write_text(CITIES_YAML)
    return folder / "load.csv", folder / "cities.yaml"


@pytest.mark.parametrize("overwrite", [False, True])
def test_input_folder_given_as_out_stays_intact(tmp_path: Path, overwrite: bool) -> None:
    load, cities = _source(tmp_path / "src")
    before = _snapshot(tmp_path / "src")
    with pytest.raises(OutputError, match=r"--out: '.*src' contains the input '.*load\.csv'"):
        import_dataset(
            "canonical", load, tmp_path / "src", options={"cities": cities}, overwrite=overwrite
        )
    assert _snapshot(tmp_path / "src") == before
    # an input further down, named only through an option, is protected the same way
    other, _ = _source(tmp_path / "other")
    with pytest.raises(OutputError, match=r"contains the input '.*src/cities\.yaml'"):
        import_dataset(
            "canonical", other, tmp_path / "src", options={"cities": cities}, overwrite=True
        )
    assert _snapshot(tmp_path / "src") == before


def test_a_folder_energy_did_not_write_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(OutputError, match=r"was not written by energy \(it holds 'notes\.txt'\)"):
        write_dataset(_ds(), out)
    assert (out / "notes.txt").read_text() == "my notes"
    write_dataset(_ds(), out, overwrite=True)
    assert not (out / "notes.txt").exists()
    assert read_dataset(out, verify=True).manifest["rows"]["load"] == 24


def test_a_foreign_manifest_is_not_ours(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / "manifest.json").write_text('{"name": "somebody else"}')
    with pytest.raises(OutputError, match=r"manifest\.json is not a data set manifest"):
        write_dataset(_ds(), out)


def test_out_pointing_at_a_file_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "load.csv"
    target.write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match=r"^--out: '.*load\.csv' is a file, not a folder"):
            write_dataset(_ds(), target, overwrite=overwrite)
    assert target.read_text() == "keep me"
    with pytest.raises(OutputError, match=r"^--out: cannot create '.*load\.csv/sub'"):
        write_dataset(_ds(), target / "sub")


def test_our_own_data_set_is_replaced_atomically(tmp_path: Path) -> None:
    out = tmp_path / "d"
    (tmp_path / "d.tmp").mkdir()  # the old code deleted a sibling OUT.tmp
    (tmp_path / "d.tmp" / "x").write_text("x")
    write_dataset(_ds(1.0), out)
    write_dataset(_ds(2.0), out)  # no --overwrite needed for a data set energy wrote
    assert read_dataset(out, verify=True).load["load_mw"].iloc[-1] == 4.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "d.tmp"]  # no leftovers

    class Boom:
        pass

    broken = _ds(3.0)
    broken.quality = {"not json": Boom()}
    with pytest.raises(TypeError):
        write_dataset(broken, out)
    assert read_dataset(out, verify=True).load["load_mw"].iloc[-1] == 4.0  # old data set kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "d.tmp"]


def test_empty_folder_and_symlinked_out(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write_dataset(_ds(), tmp_path / "empty")
    assert (tmp_path / "empty" / "manifest.json").is_file()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    write_dataset(_ds(2.0), tmp_path / "link")
    assert not (tmp_path / "link").is_symlink()  # the link is replaced, its target left alone
    assert read_dataset(tmp_path / "empty").load["load_mw"].iloc[-1] == 2.0
    assert read_dataset(tmp_path / "link").load["load_mw"].iloc[-1] == 4.0


def test_current_directory_is_never_replaced(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    with pytest.raises(OutputError, match=r"contains the current directory"):
        synth_dataset(tmp_path, n_cities=1, days=2, seed=0, overwrite=True)
    assert (tmp_path / "work").is_dir()
