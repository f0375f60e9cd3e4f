"""The open segment of an append-only log kept as numbered files: the ingest spool's and the forward queue's.

A write is whole or not at all. It is written unbuffered until every byte is in (an unbuffered write may be
short), then fsync'ed unless that is disabled. A write that fails (disk full, I/O error) is cut off again
before the error goes to the caller, so the next write never follows a fragment; if even the cut fails, the
segment is closed and the next write starts a new one. A segment is also closed once it is due (its size or
its age): closing it moves on to the next number.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from io import FileIO
from pathlib import Path

logger = logging.getLogger(__name__)


class SegmentWriter:
    """Not thread-safe: its owner serialises every call."""

    def __init__(self, path_of: Callable[[int], Path], current: int, fsync: bool, max_bytes: int,
                 max_seconds: float, on_close: Callable[[int], None] | None = None):
        self.current = current  # the number of the segment written to (opened by the next write if not open)
        self.size = 0  # bytes in the open segment
        self._path_of = path_of
        self._fsync = fsync
        self._max_bytes = max_bytes
        self._max_seconds = max_seconds
        self._on_close = on_close  # called with a segment's number once it is closed
        self._file: FileIO | None = None
        self._opened_at = 0.0

    @property
    def is_open(self) -> bool:
        return self._file is not None

    def append(self, data: bytes) -> int:
        """Durably write `data` at the end of the current segment, opening it if needed; returns the offset it
        starts at. Raises OSError with the segment as it was (or closed, when the fragment stayed)."""
        file = self._file
        if file is None:
            file = self._file = self._path_of(self.current).open("ab", buffering=0)  # a failed write is undone
            self._opened_at = time.monotonic()
            self.size = 0
        start = self.size
        try:
            written, view = 0, memoryview(data)
            while written < len(data):
                written += file.write(view[written:])
            if self._fsync:
                os.fsync(file.fileno())
        except OSError:
            self.cut_back(start)
            raise
        self.size = start + len(data)
        return start

    def cut_back(self, size: int) -> bool:
        """Cut the open segment back to `size` bytes (a failed write, or a refused one's records); if that
        fails, the segment is closed so that nothing follows the fragment. True if it was cut."""
        if self._file is None:
            return False
        try:
            self._file.truncate(size)
        except OSError:
            logger.warning("%s: a failed or refused write could not be cut off; the next write starts a new segment",
                           self._path_of(self.current).name)
            self.close()
            return False
        self.size = size
        return True

    def due(self) -> bool:
        """The open segment is as large or as old as a segment gets."""
        return self._file is not None and (
            self.size >= self._max_bytes or time.monotonic() - self._opened_at >= self._max_seconds)

    def close(self) -> None:
        """Close the open segment, if any: the next write starts the next one."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        finished = self.current
        self.current += 1
        if self._on_close is not None:
            self._on_close(finished)
