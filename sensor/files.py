"""Files with health data are created owner-only: 0600, and folders made for them 0700.

Recordings hold a person's movements all day long; on a shared machine other users must not read them,
whatever the umask. Used by every writer in :mod:`sensor` (recordings, the simulator's truth file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
FOLDER_MODE = 0o700

_FLAGS = {
    "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "r+b": os.O_RDWR,
}


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` (and missing parents) as 0700; an existing folder is left as it is."""
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=FOLDER_MODE, exist_ok=True)
        os.chmod(d, FOLDER_MODE)  # mkdir's mode is masked by the umask


def open_private(path: Path, mode: str) -> BinaryIO:
    """Open ``path`` for writing (``wb``, ``ab`` or ``r+b``), creating it 0600 and its missing folders 0700.

    A file that already exists is set to 0600 too: it is about to hold health data.
    """
    make_private_folder(path.parent)
    fd = os.open(path, _FLAGS[mode] | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode)  # type: ignore[return-value]  # binary modes only
    except BaseException:
        os.close(fd)
        raise
