"""Files with health data are owner-only: 0600 files, 0700 folders, whatever the umask (docs/robustness.md).

SQLite creates its ``-wal`` and ``-shm`` files with the mode of the database file, so creating the database
file 0600 before SQLite opens it is enough for all three.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from processing.errors import HipsenseError

__all__ = ["StorageError", "private_dir", "private_file", "storage_error", "write_private_text"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create the folder ``path`` (and missing parents) 0700. ``tighten``: also make an existing ``path`` 0700
    if it is ours (only for hipsense's own folders, never for a folder the user named)."""
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)
        _chmod(folder, DIR_MODE)  # mkdir's mode goes through the umask
    if tighten and not missing:
        _chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 if it does not exist; make an existing one 0600 (if it is ours)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _chmod(path, FILE_MODE)
    else:
        os.close(fd)
        _chmod(path, FILE_MODE)
    for suffix in ("-wal", "-shm", "-journal"):  # SQLite side files left by an older version
        side = path.with_name(path.name + suffix)
        if side.exists():
            _chmod(side, FILE_MODE)
    return path


def write_private_text(path: Path, text: str) -> None:
    """Write ``path`` atomically (temporary file in the same folder, renamed into place), 0600."""
    private_dir(path.parent, tighten=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _chmod(path: Path, mode: int) -> None:
    """Set ``mode`` on ``path`` if it is ours and differs (a folder or file of another user is left alone)."""
    try:
        st = path.stat()
        if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) != mode:
            path.chmod(mode)
    except OSError:
        pass


class StorageError(HipsenseError):
    """A file in the data folder cannot be written (disk full, read-only, gone): the run stops with one line."""


def storage_error(path: Path, action: str, exc: BaseException, *, lost: str = "") -> StorageError:
    """The one-line error for ``exc`` while ``action`` on ``path``; ``lost`` says what was not kept."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return StorageError(
        f"{path}: cannot {action}: {reason}" + (f"; {lost}" if lost else ""),
        hint="free some disk space (or make the folder writable), then run again; what was stored before is kept",
    )
