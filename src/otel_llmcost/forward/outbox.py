"""The forward queue on disk: one append-only log that every destination reads with its own cursor.

Records are appended (and fsync'ed) before the export is acknowledged, so a queue survives kill -9:
- PASS: spans (or metrics, or logs) to send as they are;
- HOLD: LLM call spans waiting for their price; never sent themselves;
- PRICED: the held spans with their cost; appending it is what settles them, in the same write.
A record is a header (type, spans, body length, CRC-32 of the body) and an OTLP request's protobuf bytes;
a torn last record (a crash mid-write) fails its length or checksum and ends the segment's replay.

Segments rotate by size and age. One is deleted once every destination's cursor has passed it and none of
its held spans waits any more. Cursors are files replaced atomically after each delivered export.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from otel_llmcost.segments import SegmentWriter

logger = logging.getLogger(__name__)

PASS_TRACES, PASS_METRICS, PASS_LOGS, HOLD, PRICED = 1, 2, 3, 4, 5
SENT_TYPES = frozenset({PASS_TRACES, PASS_METRICS, PASS_LOGS, PRICED})
_HEADER = struct.Struct(">BIII")  # type, spans (or data points, or log records), body bytes, CRC-32 of the body
_SEGMENT_MAX_SECONDS = 5.0

Cursor = tuple[int, int]  # (segment, byte offset)


@dataclass(frozen=True, slots=True)
class Record:
    kind: int
    items: int
    body: bytes
    end: Cursor  # where the next record starts


class Outbox:
    """Not thread-safe: forward.Forwarder serialises every call."""

    def __init__(self, directory: str, destinations: list[str], fsync: bool, segment_max_bytes: int):
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        segments = sorted(int(p.stem) for p in self._dir.glob("*.log") if p.stem.isdigit())
        self.sizes: dict[int, int] = {segment: self._path(segment).stat().st_size for segment in segments}
        self._writer = SegmentWriter(self._path, (segments[-1] + 1) if segments else 1, fsync, segment_max_bytes,
                                     _SEGMENT_MAX_SECONDS)
        oldest = segments[0] if segments else self.current
        self.cursors: dict[str, Cursor] = {name: self._read_cursor(name, oldest) for name in destinations}
        self.holds: dict[int, int] = {}  # segment -> held spans in it not settled yet

    @property
    def current(self) -> int:
        """The segment appended to; every one before it is closed."""
        return self._writer.current

    @property
    def total_bytes(self) -> int:
        """Bytes of every segment on disk."""
        return sum(self.sizes.values())

    def replay(self) -> Iterator[tuple[int, Record]]:
        """(segment, record) of every intact record left by a previous run, oldest first."""
        for segment in sorted(self.sizes):
            for record in self.read((segment, 0), self.sizes[segment], 1 << 62, kinds=None):
                yield segment, record

    def append(self, records: Sequence[tuple[int, int, bytes]]) -> tuple[int, int]:
        """Durably add (kind, items, body) records in one write; returns (segment, size before them) for
        undo(). Raises OSError (then the segment is as it was)."""
        segment = self._writer.current
        self.sizes.setdefault(segment, 0)
        data = b"".join(_HEADER.pack(kind, items, len(body), zlib.crc32(body)) + body
                        for kind, items, body in records)
        start = self._writer.append(data)
        self.sizes[segment] = start + len(data)
        return segment, start

    def undo(self, mark: tuple[int, int]) -> None:
        """Cut the current segment back to `mark` (an export refused after its forward records were written);
        a segment that cannot be cut is closed, so nothing follows the fragment."""
        segment, size = mark
        if segment == self._writer.current and self._writer.cut_back(size):
            self.sizes[segment] = size

    def read(self, cursor: Cursor, limit: int, max_bytes: int, kinds: frozenset[int] | None = SENT_TYPES
             ) -> Iterator[Record]:
        """Records of `cursor`'s segment from its offset up to `limit` bytes (what is written), at most
        `max_bytes` of bodies (at least one record); records not of `kinds` are passed over (their end still
        advances)."""
        segment, offset = cursor
        try:
            handle = self._path(segment).open("rb")
        except FileNotFoundError:
            return
        with handle:
            handle.seek(offset)
            taken = 0
            while offset + _HEADER.size <= limit and taken < max_bytes:
                header = handle.read(_HEADER.size)
                kind, items, length, crc = _HEADER.unpack(header)
                if offset + _HEADER.size + length > limit or (taken and taken + length > max_bytes):
                    return
                body = handle.read(length)
                if len(body) != length or zlib.crc32(body) != crc:
                    logger.warning("forward queue %s: damaged record at %d; the rest of the segment is skipped",
                                   self._path(segment).name, offset)
                    return
                offset += _HEADER.size + length
                if kinds is None or kind in kinds:
                    taken += length
                    yield Record(kind, items, body, (segment, offset))
                else:
                    yield Record(kind, 0, b"", (segment, offset))

    def readable(self, segment: int) -> tuple[int, bool]:
        """(bytes of `segment` a reader may read, whether it is finished: nothing more will be appended)."""
        return self.sizes.get(segment, 0), segment < self.current

    def advance(self, name: str, cursor: Cursor) -> None:
        """A destination delivered everything before `cursor` (a cursor moved ahead by dropping stays)."""
        if cursor > self.cursors[name]:
            self.cursors[name] = cursor
            self._write_cursor(name, cursor)

    def rotate_if_due(self) -> None:
        if self._writer.due():
            self._writer.close()

    def collect(self) -> None:
        """Delete closed segments every cursor has passed and no held span pins."""
        for segment in sorted(self.sizes):
            if segment >= self.current or self.holds.get(segment, 0) > 0:
                continue
            if all(cursor[0] > segment for cursor in self.cursors.values()):
                self._path(segment).unlink(missing_ok=True)
                del self.sizes[segment]
                self.holds.pop(segment, None)

    def items_after(self, cursor: Cursor) -> int:
        """Spans (or points, or log records) still to send in `cursor`'s segment after it (read from disk)."""
        return sum(record.items for record in self.read(cursor, self.sizes.get(cursor[0], 0), 1 << 62))

    def unsent_bytes(self, name: str) -> int:
        segment, offset = self.cursors[name]
        return sum(size for s, size in self.sizes.items() if s >= segment) - (offset if segment in self.sizes else 0)

    def close(self) -> None:
        self._writer.close()

    def _path(self, segment: int) -> Path:
        return self._dir / f"{segment:012d}.log"

    def _cursor_path(self, name: str) -> Path:
        return self._dir / f"cursor-{zlib.crc32(name.encode()):08x}"

    def _read_cursor(self, name: str, oldest: int) -> Cursor:
        """A destination new to this queue starts at its oldest segment."""
        try:
            stored_name, segment, offset = self._cursor_path(name).read_text(encoding="utf-8").rsplit(" ", 2)
            if stored_name == name:
                return int(segment), int(offset)
        except (OSError, ValueError):
            pass
        return oldest, 0

    def _write_cursor(self, name: str, cursor: Cursor) -> None:
        path = self._cursor_path(name)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(f"{name} {cursor[0]} {cursor[1]}", encoding="utf-8")
        os.replace(temporary, path)
