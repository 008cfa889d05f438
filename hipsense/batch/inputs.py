"""The recordings of a study: files, folders (searched recursively) and globs, and their content digests."""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

_HAPT_ACC = re.compile(r"acc_exp\d+_user\d+\.txt(\.gz)?$", re.IGNORECASE)
_SUFFIXES = (".hsb", ".csv", ".csv.gz", ".zip")
# Files that sit beside recordings but are not recordings: simulator truth, hipsense's own outputs.
_NOT_RECORDINGS = (".truth.csv", ".timeline.csv", ".summary.json")
_GLOB_CHARS = re.compile(r"[*?\[]")


def looks_like_recording(path: Path) -> bool:
    """A file or folder found while searching a folder that hipsense can read (``analyze``'s formats)."""
    name = path.name.lower()
    if name.startswith("."):
        return False
    if path.is_dir():
        return is_phyphox_folder(path)
    if name.endswith(_NOT_RECORDINGS):
        return False
    return name.endswith(_SUFFIXES) or bool(_HAPT_ACC.match(name))


def is_phyphox_folder(path: Path) -> bool:
    try:
        return any(p.name.lower() == "accelerometer.csv" for p in path.iterdir())
    except OSError:
        return False


def _walk(folder: Path, exclude: Path | None) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        keep = []
        for d in sorted(dirs):
            sub = here / d
            if d.startswith(".") or (exclude is not None and sub.resolve() == exclude):
                continue
            if is_phyphox_folder(sub):
                found.append(sub)
            else:
                keep.append(d)
        dirs[:] = keep
        found += [here / f for f in sorted(files) if looks_like_recording(here / f)]
    return sorted(found)


def find_recordings(inputs: Sequence[str], *, exclude: Path | None = None) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand INPUTs (files, folders, globs) into recordings, sorted and without duplicates; ``exclude``: a folder
    not to search (the output). Returns the recordings (paths as given or found) and (input, message) problems."""
    exclude = exclude.resolve() if exclude is not None else None
    found: list[Path] = []
    problems: list[tuple[str, str]] = []
    for text in inputs:
        path = Path(text)
        if path.exists():
            matches = [path]
        elif _GLOB_CHARS.search(text):
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            if not matches:
                problems.append((text, f"{text}: no file matches this pattern"))
                continue
        else:
            problems.append((text, f"{text}: no such file or folder"))
            continue
        for m in matches:
            if m.is_dir() and not is_phyphox_folder(m):
                inside = _walk(m, exclude)
                if not inside and path.is_dir():
                    problems.append((text, f"{text}: no recording in this folder"))
                found += inside
            else:
                found.append(_acc_partner(m) or m)
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique, problems


def _acc_partner(path: Path) -> Path | None:
    """A HAPT gyro_ file's acc_ partner, when there: the pair is one recording, listed by its acc_ file."""
    if not path.name.lower().startswith("gyro_"):
        return None
    acc = path.parent / ("acc_" + path.name[5:])
    return acc if _HAPT_ACC.match(acc.name) and acc.exists() else None


def _parts(path: Path) -> list[Path]:
    """The files whose bytes make up the recording."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if _HAPT_ACC.match(path.name):
        gyro = path.parent / ("gyro_" + path.name[4:])
        return [path, gyro] if gyro.exists() else [path]
    return [path]


def content_digest(path: Path, *, block: int = 1 << 20) -> str:
    """SHA-256 of the recording's bytes (every file of a folder or HAPT pair, with their names), hex."""
    h = hashlib.sha256()
    for part in _parts(path):
        h.update(part.name.encode() + b"\0")
        with part.open("rb") as fh:
            while chunk := fh.read(block):
                h.update(chunk)
    return h.hexdigest()
