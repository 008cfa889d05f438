"""Bounded text input shared by the CSV and HAPT sources: byte reader, lines, block parsing, read-ahead thread."""

from __future__ import annotations

import contextlib
import queue
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Generic

import numpy as np

from processing.errors import RecordingError
from sensor.recording.base import _MAX_PIECE_BYTES, _T, MAX_LINE_BYTES, FloatArray, IntArray
from sensor.recording.fastcsv import parse_block


class _LineTooLong(Exception):
    """A line longer than :data:`MAX_LINE_BYTES` (turned into a RecordingError naming the file and line)."""


class _ByteReader:
    """Decompressed bytes of a plain or gzip file in pieces, counting compressed bytes consumed.

    Multi-member gzip files (as written by :class:`RecordingWriter`) are read through; a stream that ends
    early or is corrupt inside a member sets ``truncated``; bytes after the last complete member that are not
    gzip (a broken download's padding) set ``trailing_garbage`` and are ignored. Each piece handed out is at
    most :data:`_MAX_PIECE_BYTES` however well the input compresses, so memory never depends on it.
    """

    def __init__(self, stream: IO[bytes], *, gz: bool) -> None:
        self._f = stream
        self._gz = gz
        self._d = zlib.decompressobj(wbits=47) if gz else None
        self._feed = b""  # compressed bytes not yet given to the decompressor
        self._members = 0  # complete gzip members read
        self._member_out = 0  # bytes the current member has produced
        self._done = False
        self.consumed = 0
        self.truncated = False
        self.trailing_garbage = 0  # bytes ignored after the last complete gzip member

    def read(self, size: int = 1 << 18) -> bytes:
        """Next piece of data, about ``size`` bytes (at least 64 KiB of the file); b"" at the end."""
        limit = min(max(size, 1 << 16), _MAX_PIECE_BYTES)  # decompressed bytes handed out at most
        size = max(size // 3 if self._gz else size, 1 << 16)  # CSV text compresses about 3:1
        if self._d is None:
            raw = self._f.read(size)
            self.consumed += len(raw)
            return raw
        while not self._done:
            if not self._feed:
                raw = self._f.read(size)
                self.consumed += len(raw)
                if not raw:
                    if not self._d.eof and self.consumed > 0:
                        self.truncated = True
                    self._done = True
                    return b""
                self._feed = raw
            if self._d.eof:  # the previous member is complete: the next one starts here
                self._d = zlib.decompressobj(wbits=47)
                self._member_out = 0
            try:
                data = self._d.decompress(self._feed, limit)
            except zlib.error:
                if self._member_out == 0 and self._members > 0:
                    self.trailing_garbage = len(self._feed) + self._rest_of_file()
                else:
                    self.truncated = True
                self._done = True
                return b""
            if self._d.unconsumed_tail:
                self._feed = self._d.unconsumed_tail
            elif self._d.eof:
                self._members += 1
                self._feed = self._d.unused_data
            else:
                self._feed = b""
            self._member_out += len(data)
            if data:
                return data
        return b""

    def _rest_of_file(self) -> int:
        """Bytes left in the file (counted as consumed: they are skipped, not read)."""
        rest = 0
        while piece := self._f.read(1 << 20):
            rest += len(piece)
        self.consumed += rest
        return rest

    def close(self) -> None:
        self._f.close()


def _is_gz(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _open_bytes(path: Path) -> _ByteReader:
    return _ByteReader(path.open("rb"), gz=_is_gz(path))


class _Lines:
    """Line-aligned blocks of text from a :class:`_ByteReader` (``\\r`` removed).

    A line longer than :data:`MAX_LINE_BYTES` raises :class:`_LineTooLong` once that much has been read:
    time and memory stay bounded whatever the input (a file of one endless line, ``/dev/zero``).
    """

    def __init__(self, reader: _ByteReader) -> None:
        self.reader = reader
        self._buf = b""
        self.eof = False
        self.partial_last_line = False

    def readline(self) -> bytes | None:
        if b"\n" not in self._buf and not self.eof:
            pieces = [self._buf]
            have = len(self._buf)
            while not self.eof:
                piece = self._read(1 << 16)
                pieces.append(piece)
                have += len(piece)
                if b"\n" in piece:
                    break
                if have > MAX_LINE_BYTES:
                    raise _LineTooLong
            self._buf = b"".join(pieces)
        if not self._buf:
            return None
        i = self._buf.find(b"\n")
        if i < 0:
            line, self._buf = self._buf, b""
        else:
            line, self._buf = self._buf[: i + 1], self._buf[i + 1 :]
        if len(line) > MAX_LINE_BYTES:
            raise _LineTooLong
        return line

    def _read(self, size: int) -> bytes:
        piece = self.reader.read(size)
        if not piece:
            self.eof = True
        return piece.replace(b"\r", b"") if b"\r" in piece else piece

    def blocks(self, size: int) -> Iterator[bytes]:
        """Blocks of complete lines, each cut at the first line end after ``size`` bytes (fixed by content)."""
        want = size
        while True:
            pieces = [self._buf]
            have = len(self._buf)
            while have < want and not self.eof:
                piece = self._read(want - have)
                pieces.append(piece)
                have += len(piece)
            buf = b"".join(pieces) if len(pieces) > 1 else pieces[0]
            if not buf:
                self._buf = b""
                return
            cut = buf.find(b"\n", size - 1) if have >= size else -1
            if cut < 0:
                if not self.eof:
                    if len(buf) > size + MAX_LINE_BYTES:
                        raise _LineTooLong
                    self._buf = buf
                    want = len(buf) + (1 << 16)  # a long line: read on, a little at a time
                    continue
                block, self._buf = buf, b""
                if not block.endswith(b"\n"):
                    self.partial_last_line = True
                    block += b"\n"
            else:
                block, self._buf = buf[: cut + 1], buf[cut + 1 :]
            want = size
            yield block

    def at_end(self) -> bool:
        """True once every byte has been handed out."""
        return self.eof and not self._buf


def _line_too_long(name: str, line: int | str) -> RecordingError:
    return RecordingError(
        f"{name} line {line}: longer than {MAX_LINE_BYTES >> 20} MiB (or no line ends at all); stopped reading there",
        hint="is this really a recording? rows of a canonical CSV are short lines of numbers",
    )


class _BadLine(Exception):
    def __init__(self, index: int, detail: str) -> None:
        self.index = index
        self.detail = detail


def _parse_lines_slow(block: bytes, ncols: int, use: int) -> tuple[FloatArray, IntArray, _BadLine | None]:
    """Exact line-by-line parse of a block: rows (first ``use`` columns), their 0-based line offsets, and the
    first bad line (fewer than ``use`` fields, or one of them not a number)."""
    rows: list[list[float]] = []
    offsets: list[int] = []
    bad = None
    for i, line in enumerate(block.split(b"\n")[:-1]):
        text = line.strip()
        if not text:
            continue
        fields = text.split(b",")
        try:
            if len(fields) < use:
                raise ValueError
            rows.append([float(v) for v in fields[:use]])
        except ValueError:
            shown = text.decode("utf-8", "replace")
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            bad = _BadLine(i, f"expected {use} numbers, got {shown!r}")
            break
        offsets.append(i)
    arr = np.array(rows, dtype=np.float64).reshape(-1, use)
    return arr, np.array(offsets, dtype=np.int64), bad


def _parse_text_block(block: bytes, ncols: int, use: int) -> tuple[FloatArray, IntArray, _BadLine | None]:
    """Rows of ``ncols`` comma-separated numbers (first ``use`` kept): fast path, else the exact slow path."""
    fast = parse_block(block, ncols)
    if fast is not None:
        return fast[:, :use], np.arange(fast.shape[0], dtype=np.int64), None
    return _parse_lines_slow(block, ncols, use)


class _ReadAhead(Generic[_T]):
    """Run an iterator on a worker thread, at most ``depth`` items ahead of the consumer.

    The worker's exceptions are raised in the consumer at the point where they happened. :meth:`close` stops
    the worker (it is called by the consumer, also when it stops early) and waits for it.
    """

    def __init__(self, items: Iterator[_T], depth: int) -> None:
        self._queue: queue.Queue[tuple[bool, _T | BaseException | None]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(items,), name="hipsense-read-ahead", daemon=True)
        self._thread.start()

    def _run(self, items: Iterator[_T]) -> None:
        try:
            for item in items:
                if not self._put((True, item)):
                    return
            self._put((False, None))
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((False, exc))

    def _put(self, message: tuple[bool, _T | BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[_T]:
        return self

    def __next__(self) -> _T:
        if self._done:
            raise StopIteration
        is_item, value = self._queue.get()
        if is_item:
            return value  # type: ignore[return-value]
        self._done = True
        self._thread.join()
        if isinstance(value, BaseException):
            raise value
        raise StopIteration

    def close(self) -> None:
        self._stop.set()
        self._done = True
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)  # unblock a waiting put
        self._thread.join()
