"""Where a command writes its output folder: checks on ``--out`` and an atomic replacement.

``energy data import|fetch|synth --out DIR`` must never destroy what the user did not ask to
replace. The rules, checked before any work starts and again just before writing:

* ``DIR`` may not be a file, nor contain an input of the command (the source files, the cities
  file, the cleaning policy...), nor contain the current directory or the home directory —
  whatever the flags: such a folder is never replaced.
* An existing ``DIR`` is replaced only when it is empty or was written by the project (``ours``
  says so, e.g. a data set directory with its manifest and nothing else), or with ``--overwrite``.

The new content is written to a fresh hidden folder next to ``DIR`` (same file system) and then
renamed into place: a failed or interrupted write leaves the old ``DIR`` as it was. Replacing an
existing ``DIR`` takes two renames (old away, new in), so for a moment there is no ``DIR``; a
reader never sees a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path


class OutputError(ValueError):
    """``--out`` names a folder the command may not write or replace."""


def _shown(path: Path) -> str:
    return repr(str(path))


def _forms(path: Path) -> set[Path]:
    """The absolute and the symlink-resolved form of a path (either may sit inside ``out``)."""
    forms = {Path(os.path.abspath(path))}
    with contextlib.suppress(OSError, RuntimeError):  # a symlink loop: the absolute form is enough
        forms.add(path.resolve())
    return forms


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies below it (comparing every form of both)."""
    return any(p.is_relative_to(f) for p in _forms(path) for f in _forms(folder))


def _protected() -> list[tuple[str, Path]]:
    """Folders that no output may contain: where the user is, and their home."""
    places = [("current", Path.cwd())]
    with contextlib.suppress(RuntimeError):  # no HOME and no password entry
        places.append(("home", Path.home()))
    return places


def check_out(
    out: Path,
    *,
    inputs: Iterable[Path] = (),
    overwrite: bool = False,
    ours: Callable[[Path], str | None],
) -> None:
    """Raise :class:`OutputError` unless ``out`` may be written (created or replaced).

    Args:
        out: the output folder (``--out``).
        inputs: files and folders the command reads; ``out`` may not contain any of them.
        overwrite: allow replacing an existing folder that the project did not write.
        ours: for an existing non-empty folder, ``None`` when the project wrote it, else a short
            reason why not (e.g. "it holds 'notes.txt'").
    """
    out = Path(out)
    if out.is_file() or (out.exists() and not out.is_dir()):
        raise OutputError(f"--out: {_shown(out)} is a file, not a folder (give a folder path)")
    for src in inputs:
        if _inside(Path(src), out):
            raise OutputError(
                f"--out: {_shown(out)} contains the input {_shown(Path(src))}; "
                "write to another folder (an input is never replaced, even with --overwrite)"
            )
    for name, place in _protected():
        if _inside(place, out):
            raise OutputError(
                f"--out: {_shown(out)} contains the {name} directory; write to another folder"
            )
    if not out.is_dir() or overwrite:
        return
    try:
        why = ours(out) if any(out.iterdir()) else None
    except OSError as e:
        raise OutputError(f"--out: cannot read {_shown(out)}: {e.strerror or e}") from e
    if why is not None:
        raise OutputError(
            f"--out: {_shown(out)} exists and was not written by energy ({why}); "
            "choose another folder, or pass --overwrite to replace it"
        )


def write_dir(
    out: Path,
    fill: Callable[[Path], None],
    *,
    inputs: Iterable[Path] = (),
    overwrite: bool = False,
    ours: Callable[[Path], str | None],
) -> Path:
    """Create or replace the folder ``out`` with what ``fill(tmp)`` writes into a new folder.

    Args:
        out: the output folder; its parents are created.
        fill: writes the content into the empty folder it is given.
        inputs, overwrite, ours: as for :func:`check_out`, checked again here.

    Returns:
        ``out``.

    Raises:
        OutputError: ``out`` may not be written, or the file system refused (no space, no
            permission); the old ``out`` is then left as it was.
    """
    out = Path(out)
    inputs = list(inputs)
    check_out(out, inputs=inputs, overwrite=overwrite, ours=ours)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as e:
        raise OutputError(f"--out: cannot create {_shown(out)}: {e.strerror or e}") from e
    try:
        fill(tmp)
        _swap(tmp, out)
    except OSError as e:
        raise OutputError(f"--out: cannot write {_shown(out)}: {e.strerror or e}") from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _swap(new: Path, out: Path) -> None:
    """Rename ``new`` to ``out``; an existing ``out`` is moved aside first and deleted after."""
    if not os.path.lexists(out):
        os.rename(new, out)
        return
    old = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.old")
    os.rename(out, old)
    try:
        os.rename(new, out)
    except OSError:
        os.rename(old, out)
        raise
    if old.is_symlink():  # --out was a link to a folder: drop the link, never its target
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)
