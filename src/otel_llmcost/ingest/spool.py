"""Write-ahead spool: an export is acknowledged only once its spans are on disk here.

Spans are appended to numbered segment files, one line per export: the CRC-32 of the JSON (8 hex digits),
a space, the JSON. A segment is deleted once every trace with spans in it has been written to the store. On
start, surviving segments are replayed, so a crash between acknowledging and storing loses nothing; a line
that is torn (a crash mid-write) or damaged fails its checksum and is skipped, the rest replayed.

A write that fails (disk full, I/O error) is cut off again before the error goes to the caller, which
then refuses the export: the next line never follows a fragment, and a refused export leaves nothing on
disk (segments.py).
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from otel_llmcost.model import SpanRecord
from otel_llmcost.segments import SegmentWriter

logger = logging.getLogger(__name__)

_SEGMENT_MAX_BYTES = 64 * 1024 * 1024
_SEGMENT_MAX_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Replayed:
    """One export read back from the spool."""

    segment: int
    spans: list[SpanRecord]
    size: int  # bytes of its line
    age: float  # seconds since it was written (0 for lines of releases that did not record it)


class Spool:
    """Not thread-safe: ingest/admit.py serialises access."""

    def __init__(self, directory: str, fsync: bool = True):
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._traces: dict[int, set[str]] = {}  # segment -> traces not yet stored
        self._replayable = sorted(int(p.stem) for p in self._dir.glob("*.jsonl") if p.stem.isdigit())
        self._sizes = {segment: self._path(segment).stat().st_size for segment in self._replayable}
        self.bytes = sum(self._sizes.values())  # on disk, all segments
        # a closed segment holding nothing unstored goes (one closed for a fragment it could not cut off, too)
        self._writer = SegmentWriter(self._path, (self._replayable[-1] + 1) if self._replayable else 1, fsync,
                                     _SEGMENT_MAX_BYTES, _SEGMENT_MAX_SECONDS, on_close=self._release_if_done)

    @property
    def current(self) -> int:
        """The segment the next export is written to."""
        return self._writer.current

    def replay(self) -> Iterator[Replayed]:
        """Each export left by a previous run, oldest first."""
        for segment in self._replayable:
            path = self._path(segment)
            traces = self._traces.setdefault(segment, set())
            with path.open("rb") as lines:
                for number, line in enumerate(lines, 1):
                    try:
                        spans, written_at = _decode_line(line)
                    except (ValueError, TypeError, IndexError, KeyError, RecursionError):
                        # A torn final line is an export that was never acknowledged; the client retried it.
                        logger.warning("spool %s line %d is torn or damaged, skipped", path.name, number)
                        continue
                    traces.update(span.trace_id for span in spans)
                    yield Replayed(segment, spans, len(line), max(time.time() - written_at, 0.0))
            self._release_if_done(segment)  # deletes a segment that held nothing readable
        self._replayable = []

    def append(self, spans: list[SpanRecord]) -> int:
        """Durably record spans in the current segment (fsync'ed unless disabled); returns the bytes written.
        Raises OSError when the write fails; the segment is then as it was before."""
        if not spans:
            return 0
        line = _encode_line(spans)
        segment = self._writer.current
        start = self._writer.append(line)  # raises OSError with the segment as it was
        self._sizes[segment] = start + len(line)
        self.bytes += len(line)
        self._traces.setdefault(segment, set()).update(span.trace_id for span in spans)
        return len(line)

    def release(self, segments: Iterable[int], trace_id: str) -> None:
        """The trace's spans are stored; segments holding nothing else unstored are deleted."""
        for segment in segments:
            traces = self._traces.get(segment)
            if traces is not None:
                traces.discard(trace_id)
                self._release_if_done(segment)

    def rotate_if_due(self) -> None:
        if self._writer.due():
            self._writer.close()

    def close(self) -> None:
        self._writer.close()

    def _release_if_done(self, segment: int) -> None:
        open_now = self._writer.is_open and segment == self._writer.current
        if not self._traces.get(segment) and not open_now:
            self._traces.pop(segment, None)
            self.bytes -= self._sizes.pop(segment, 0)
            self._path(segment).unlink(missing_ok=True)

    def _path(self, segment: int) -> Path:
        return self._dir / f"{segment:012d}.jsonl"


def _encode_line(spans: list[SpanRecord]) -> bytes:
    resources: dict[int, int] = {}
    resource_list: list[Mapping[str, Any]] = []
    rows = []
    for span in spans:
        index = resources.get(id(span.resource))
        if index is None:
            index = resources[id(span.resource)] = len(resource_list)
            resource_list.append(span.resource)
        rows.append([
            span.trace_id, span.span_id, span.parent_span_id, span.name, span.kind, span.start_ns, span.end_ns,
            span.status_code, span.status_message, span.attributes, index, span.scope_name, span.scope_version,
        ])
    # "t": when it was written, so that the wait of a trace replayed after a restart goes on, not over
    document = {"t": round(time.time(), 3), "r": resource_list, "s": rows}
    payload = _json(document)
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def _json(document: dict[str, Any]) -> bytes:
    """The document as compact JSON. orjson writes it ~5x faster than json (bench/ingest.py: 3.0 -> 0.65 CPU
    µs per span, on the path to the acknowledgement), but unlike json it writes NaN and infinities as null
    and refuses lone surrogates (from JSON escapes): a line that holds a null, or that orjson refuses, is
    written by json instead, so a replayed span has exactly the values it was acknowledged with."""
    try:
        payload = orjson.dumps(document)
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate, or an int beyond 64 bits
        payload = b"null"
    if b"null" in payload:
        payload = json.dumps(document, separators=(",", ":")).encode()
    return payload



def _decode_line(line: bytes) -> tuple[list[SpanRecord], float]:
    if not line.endswith(b"\n"):
        raise ValueError("torn line: no end")
    if line[:1] == b"{":  # written by a release before checksums
        payload = line
    else:
        payload = line[9:-1]
        if line[8:9] != b" " or int(line[:8], 16) != zlib.crc32(payload):
            raise ValueError("checksum mismatch")
    document = json.loads(payload)
    resources = document["r"]
    spans = [
        SpanRecord(t, s, p, name, kind, start, end, code, message, attributes, resources[r], scope, version)
        for t, s, p, name, kind, start, end, code, message, attributes, r, scope, version in document["s"]
    ]
    return spans, float(document.get("t", time.time()))
