"""Write-ahead spool: an export is acknowledged only once its spans are on disk here.

Spans are appended to numbered segment files (one JSON line per export). A segment is deleted once every
trace with spans in it has been written to the store. On start, surviving segments are replayed, so a
crash between acknowledging and storing loses nothing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Iterator

from otel_llmcost.model import SpanRecord

logger = logging.getLogger(__name__)

_SEGMENT_MAX_BYTES = 64 * 1024 * 1024
_SEGMENT_MAX_SECONDS = 10.0


class Spool:
    """Not thread-safe: the pipeline serialises access."""

    def __init__(self, directory: str, fsync: bool = True):
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._traces: dict[int, set[str]] = {}  # segment -> traces not yet stored
        self._replayable = sorted(int(p.stem) for p in self._dir.glob("*.jsonl") if p.stem.isdigit())
        self.current = (self._replayable[-1] + 1) if self._replayable else 1
        self._file = None
        self._opened_at = 0.0

    def replay(self) -> Iterator[tuple[int, list[SpanRecord]]]:
        """Yield (segment, spans) for each export left by a previous run, oldest first."""
        for segment in self._replayable:
            path = self._path(segment)
            traces = self._traces.setdefault(segment, set())
            with path.open("rb") as lines:
                for number, line in enumerate(lines, 1):
                    try:
                        spans = _decode_line(line)
                    except (ValueError, TypeError, IndexError):
                        # A torn final line is an export that was never acknowledged; the client retried it.
                        logger.warning("spool %s line %d is unreadable, skipped", path.name, number)
                        continue
                    traces.update(span.trace_id for span in spans)
                    yield segment, spans
            self._release_if_done(segment)  # deletes a segment that held nothing readable
        self._replayable = []

    def append(self, spans: list[SpanRecord]) -> None:
        """Durably record spans in the current segment (fsync'ed unless disabled)."""
        if not spans:
            return
        if self._file is None:
            self._file = self._path(self.current).open("ab")
            self._opened_at = time.monotonic()
            self._traces.setdefault(self.current, set())
        self._file.write(_encode_line(spans))
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        self._traces[self.current].update(span.trace_id for span in spans)

    def release(self, segments, trace_id: str) -> None:
        """The trace's spans are stored; segments holding nothing else unstored are deleted."""
        for segment in segments:
            traces = self._traces.get(segment)
            if traces is not None:
                traces.discard(trace_id)
                self._release_if_done(segment)

    def rotate_if_due(self) -> None:
        if self._file is None:
            return
        if self._file.tell() >= _SEGMENT_MAX_BYTES or time.monotonic() - self._opened_at >= _SEGMENT_MAX_SECONDS:
            self._close_current()

    def close(self) -> None:
        self._close_current()

    def _close_current(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            finished = self.current
            self.current += 1
            self._release_if_done(finished)

    def _release_if_done(self, segment: int) -> None:
        open_now = self._file is not None and segment == self.current
        if not self._traces.get(segment) and not open_now:
            self._traces.pop(segment, None)
            self._path(segment).unlink(missing_ok=True)

    def _path(self, segment: int) -> Path:
        return self._dir / f"{segment:012d}.jsonl"


def _encode_line(spans: list[SpanRecord]) -> bytes:
    resources: dict[int, int] = {}
    resource_list = []
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
    return json.dumps({"r": resource_list, "s": rows}, separators=(",", ":")).encode() + b"\n"


def _decode_line(line: bytes) -> list[SpanRecord]:
    document = json.loads(line)
    resources = document["r"]
    return [
        SpanRecord(t, s, p, name, kind, start, end, code, message, attributes, resources[r], scope, version)
        for t, s, p, name, kind, start, end, code, message, attributes, r, scope, version in document["s"]
    ]
