"""Admission: an export's valid spans are written to the spool, then held in the trace buffer; only then
is the export acknowledged, so a refused export leaves nothing a retry could be deduplicated against.

The spool and the buffer sit behind one lock: the receivers' threads admit exports, the flusher takes the
released traces and, once they are stored, releases their spool entries. An export is refused (the client
retries later) while the buffer is full, while the store lags too far behind, or while the spool cannot be
written. The buffer's cap (attribution.max_buffered_bytes) counts the traces the flusher took and has not
stored yet too: under overload with a slow store or held traces, what waits in the buffer and what waits in
the flusher together stay within it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from otel_llmcost.config import Settings
from otel_llmcost.errors import OverloadedError
from otel_llmcost.ingest.spool import Spool
from otel_llmcost.ingest.tracebuffer import TraceBuffer, TraceGroup
from otel_llmcost.ingest.validate import ValidExport

logger = logging.getLogger(__name__)

MAX_UNSENT_ROWS = 200_000  # rows priced but not stored (the store is failing): ~1 KB each in memory


@dataclass(slots=True)
class AdmissionCounts:
    received_spans: int = 0  # usable and rejected, in exports that were not refused
    accepted_spans: int = 0  # new spans written to the spool
    duplicate_spans: int = 0  # re-sent spans acknowledged without spooling them again
    rejected_spans: int = 0  # unusable spans (partial_success)
    refused_exports: int = 0  # answered "retry later": buffer full, store backlog, spool write failed
    spool_write_failures: int = 0


class Admission:
    def __init__(self, settings: Settings, spool_dir: str | None = None):
        attribution = settings.attribution
        self._max_buffered_bytes = attribution.max_buffered_bytes
        self._buffer = TraceBuffer(attribution.trace_wait_seconds, attribution.max_trace_wait_seconds,
                                   recent_max_bytes=attribution.max_buffered_bytes // 4,
                                   settle=attribution.root_settle_seconds)
        self._spool = Spool(spool_dir or settings.spool_dir, fsync=settings.spool_fsync)
        self._lock = threading.Lock()
        self._counts = AdmissionCounts()
        self._held_bytes = 0  # of the traces taken by the flusher and not released (stored) yet

    def replay(self) -> int:
        """Buffer again what a previous run left in the spool; returns the spans replayed."""
        replayed = 0
        with self._lock:
            for export in self._spool.replay():
                self._buffer.add(export.spans, export.segment, export.size, age=export.age)
                replayed += len(export.spans)
        return replayed

    def admit(self, export: ValidExport, unsent_rows: int,
              forward: Callable[[list[int]], Callable[[], None]] | None = None, over: bool = False) -> None:
        """Spool and buffer the export's new spans; raises OverloadedError to ask for a retry.
        `unsent_rows`: rows the flusher holds for a failing store. `forward`: queues the new spans (by index)
        for forwarding first, returning how to undo that if the spool refuses them: a crash in between sends
        a span twice rather than never. `over`: check_room let it in over the cap."""
        with self._lock:
            self._refuse_if_full(unsent_rows, over)
            # Only new spans go to the spool: a re-sent export must not pin a segment no trace will release.
            fresh = self._buffer.new_spans(export.spans)
            spans, calls = [export.spans[i] for i in fresh], [export.calls[i] for i in fresh]
            segment = self._spool.current
            undo_forward = None
            try:
                undo_forward = forward(fresh) if forward is not None and fresh else None
                size = self._spool.append(spans)
            except OSError as exc:
                if undo_forward is not None:
                    undo_forward()
                failures = self._counts.spool_write_failures = self._counts.spool_write_failures + 1
                self._counts.refused_exports += 1
                if failures & (failures - 1) == 0:  # the 1st, 2nd, 4th, 8th...: a full disk does not flood the log
                    logger.warning("spool write failed (%d times), exports refused until it works: %s", failures, exc)
                raise OverloadedError(f"cannot write the spool ({exc.strerror or exc}); retry later") from exc
            self._buffer.add(spans, segment, size, calls)
            self._counts.received_spans += len(export.spans) + export.rejected
            self._counts.accepted_spans += len(spans)
            self._counts.duplicate_spans += len(export.spans) - len(spans)
            self._counts.rejected_spans += export.rejected

    def check_room(self, unsent_rows: int, trace_ids: Callable[[], Iterable[str]]) -> bool:
        """Raise OverloadedError now if admit() would: called before an export is decoded, so that clients
        retrying while the buffer is full do not cost a decode each. Except for the rest of a trace the buffer
        holds or has just released (`trace_ids`: the export's, read only when the buffer is full): that export
        goes in over the cap, by up to an eighth of it (returns True: pass it to admit()). Refused, the other
        part of a split trace could leave the recent cache before a retry got in, and the trace be cut."""
        with self._lock:
            if self._refusal(unsent_rows, over=False) is None:
                return False
        wanted = trace_ids()  # outside the lock: it parses the export
        with self._lock:
            if self._buffer.holds_any(wanted) and self._refusal(unsent_rows, over=True) is None:
                return True
            self._refuse_if_full(unsent_rows, over=False)
        return False  # there is room by now

    def _refusal(self, unsent_rows: int, over: bool) -> str | None:
        """Why an export would be refused now; None when it would not."""
        cap = self._max_buffered_bytes + (self._max_buffered_bytes // 8 if over else 0)
        if self._buffer.buffered_bytes + self._held_bytes >= cap:
            return "receiver buffer is full; retry later"
        if unsent_rows >= MAX_UNSENT_ROWS:
            return "the store is not accepting rows; retry later"
        return None

    def _refuse_if_full(self, unsent_rows: int, over: bool) -> None:
        if (reason := self._refusal(unsent_rows, over)) is not None:
            self._counts.refused_exports += 1
            raise OverloadedError(reason)

    def take_ready(self, everything: bool, closing: bool = False) -> list[TraceGroup]:
        """The traces ready to be written (all of them when `everything`; TraceBuffer.take_ready)."""
        with self._lock:
            groups = self._buffer.take_ready(everything, closing)
            self._held_bytes += sum(group.size for group in groups)
            self._spool.rotate_if_due()
        return groups

    def release(self, groups: list[TraceGroup]) -> None:
        """These traces are stored: their spool entries can go."""
        with self._lock:
            for group in groups:
                self._spool.release(group.segments, group.trace_id)
                self._held_bytes -= group.size

    def close(self) -> int:
        """Close the spool; returns the spans still buffered (they stay in the spool for the next start)."""
        with self._lock:
            waiting = self._buffer.span_count
            self._spool.close()
        return waiting

    def figures(self) -> dict[str, Any]:
        """The counts, and what is held now (PipelineStats' fields of that name)."""
        with self._lock:
            return {**dataclasses.asdict(self._counts), "buffered_spans": self._buffer.span_count,
                    "buffered_bytes": self._buffer.buffered_bytes + self._held_bytes, "spool_bytes": self._spool.bytes,
                    "oldest_unflushed_seconds": self._buffer.oldest_age()}
