"""The pipeline: decode -> validate -> spool, then buffer (ack) ... flusher: attribute -> price -> check -> store.

`ingest` runs on the receivers' threads and returns once the spans are durable in the spool; only then do
they enter the buffer, so a refused export leaves nothing a retry could be deduplicated against. A flusher
thread releases finished traces from the buffer, turns them into priced rows, checks every value against
its column (rowcheck) and writes one INSERT per batch (writer). A call that cannot be stored goes to the
dead-letter table. Batches that fail for the store's sake are retried with backoff; their spool segments
stay until they succeed. On SIGTERM, traces still waiting for ancestors stay in the spool for the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)

from otel_llmcost import deadletter
from otel_llmcost.attribution import Attributor
from otel_llmcost.config import Settings
from otel_llmcost.deadletter import RejectedCall
from otel_llmcost.decode import decode_spans
from otel_llmcost.errors import OverloadedError, StoreError
from otel_llmcost.model import IngestResult, PipelineStats, UsageRow
from otel_llmcost.pricing import PriceBook
from otel_llmcost.ratelog import RateLimitedLog
from otel_llmcost.rowcheck import RowRejected, check_row
from otel_llmcost.semconv import WANTED_ATTRIBUTES, InvalidSpan, extract_call
from otel_llmcost.spool import Spool
from otel_llmcost.store import UsageStore
from otel_llmcost.tracebuffer import TraceBuffer, TraceGroup
from otel_llmcost.traces import TraceKeeper
from otel_llmcost.usage import build_usage_rows
from otel_llmcost.writer import BatchWriter

logger = logging.getLogger(__name__)
_rare = RateLimitedLog(logger)

_MAX_RETRY_DELAY = 30.0
_MAX_UNSENT_ROWS = 200_000  # rows priced but not stored (the store is failing): ~1 KB each in memory


class Pipeline:
    def __init__(self, settings: Settings, store: UsageStore, price_book: PriceBook):
        self._settings = settings
        self._price_book = price_book
        self._attributor = Attributor(settings.attribution.keys)
        self._traces = TraceKeeper(settings.traces)
        self._wanted = WANTED_ATTRIBUTES.union(self._attributor.wanted).union(self._traces.wanted)
        max_bytes = settings.attribution.max_buffered_bytes
        self._buffer = TraceBuffer(settings.attribution.trace_wait_seconds,
                                   settings.attribution.max_trace_wait_seconds, recent_max_bytes=max_bytes // 4)
        self._spool = Spool(settings.spool_dir, fsync=settings.spool_fsync)
        self._writer = BatchWriter(store)
        self._lock = threading.Lock()
        self._unsent: list[_Batch] = []
        self._stored_log = _StoredLog()
        self._unsent_rows = 0
        self._retry_at = 0.0
        self._retry_delay = 1.0
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._run_flusher, name="llmcost-flusher", daemon=True)
        self._counts = {name: 0 for name in ("received_spans", "accepted_spans", "duplicate_spans",
                                             "rejected_spans", "refused_exports", "spool_write_failures",
                                             "rows_adjusted")}

    @property
    def rows_written(self) -> int:
        return self._writer.counts.rows_written

    def stats(self) -> PipelineStats:
        """A snapshot of the counters an operator watches (served as /metrics by the receiver)."""
        with self._lock:
            counts = self._writer.counts
            return PipelineStats(
                **self._counts, rows_written=counts.rows_written, rows_already_stored=counts.rows_already_stored,
                rows_dead_lettered=counts.rows_dead_lettered, inserts=counts.inserts,
                insert_failures=counts.insert_failures, insert_seconds_total=counts.insert_seconds_total,
                last_insert_seconds=counts.last_insert_seconds, buffered_spans=self._buffer.span_count,
                buffered_bytes=self._buffer.buffered_bytes, spool_bytes=self._spool.bytes,
                unsent_rows=self._unsent_rows, oldest_unflushed_seconds=self._buffer.oldest_age(),
            )

    def start(self) -> None:
        """Replay what a previous run left in the spool, then start flushing."""
        replayed = 0
        for export in self._spool.replay():
            self._buffer.add(export.spans, export.segment, export.size, age=export.age)
            replayed += len(export.spans)
        if replayed:
            logger.info("replaying %d spans from the spool", replayed)
        self._flusher.start()

    def ingest(self, request: PB2ExportTraceServiceRequest) -> IngestResult:
        """Validate, then durably accept the request's spans. Raises OverloadedError to ask for a retry."""
        decoded = decode_spans(request, self._wanted)
        usable, calls = [], []
        for span in decoded.spans:
            try:
                calls.append(extract_call(span))
            except InvalidSpan as exc:
                decoded.reject(f"span {span.name!r} ({span.span_id}): {exc}")
                continue
            except Exception:  # attribute shapes no dialect expected: lose this span, not the request
                logger.exception("span %s/%s could not be read", span.trace_id, span.span_id)
                decoded.reject(f"span {span.name!r} ({span.span_id}): attributes of an unexpected type")
                continue
            usable.append(span)
        with self._lock:
            self._refuse_if_full()
            self._counts["received_spans"] += len(usable) + decoded.rejected
            # Only new spans go to the spool: a re-sent export must not pin a segment no trace will release.
            fresh = self._buffer.new_spans(usable)
            spans, fresh_calls = [usable[i] for i in fresh], [calls[i] for i in fresh]
            segment = self._spool.current
            try:
                size = self._spool.append(spans)
            except OSError as exc:
                failures = self._counts["spool_write_failures"] = self._counts["spool_write_failures"] + 1
                self._counts["refused_exports"] += 1
                if failures & (failures - 1) == 0:  # the 1st, 2nd, 4th, 8th...: a full disk does not flood the log
                    logger.warning("spool write failed (%d times), exports refused until it works: %s", failures, exc)
                raise OverloadedError(f"cannot write the spool ({exc.strerror or exc}); retry later") from exc
            self._buffer.add(spans, segment, size, fresh_calls)
            self._counts["accepted_spans"] += len(spans)
            self._counts["duplicate_spans"] += len(usable) - len(spans)
            self._counts["rejected_spans"] += decoded.rejected
        message = "; ".join(decoded.reasons)
        if decoded.rejected > len(decoded.reasons):
            message += f"; and {decoded.rejected - len(decoded.reasons)} more"
        return IngestResult(len(usable), decoded.rejected, message)

    def _refuse_if_full(self) -> None:
        if self._buffer.buffered_bytes >= self._settings.attribution.max_buffered_bytes:
            self._counts["refused_exports"] += 1
            raise OverloadedError("receiver buffer is full; retry later")
        if self._unsent_rows >= _MAX_UNSENT_ROWS:
            self._counts["refused_exports"] += 1
            raise OverloadedError("the store is not accepting rows; retry later")

    def close(self) -> None:
        """Stop flushing, write the traces that are ready; traces still waiting for ancestors stay in the
        spool, and their wait goes on after the next start."""
        self._stop.set()
        if self._flusher.is_alive():
            self._flusher.join()
        self._flush(everything=False)
        for attempt in range(3):
            if not self._unsent:
                break
            time.sleep(attempt)
            self._send_unsent()
        if self._unsent:
            logger.error("%d rows could not be stored; they stay in the spool for the next start", self._unsent_rows)
        with self._lock:
            waiting = self._buffer.span_count
            self._spool.close()
        if waiting:
            logger.info("%d spans of traces still waiting for their ancestors stay in the spool", waiting)
        self._stored_log.close()
        logger.info("pipeline: %s", self.stats())

    def _run_flusher(self) -> None:
        interval = self._settings.store.flush_interval_seconds
        while not self._stop.wait(interval):
            try:
                self._flush(everything=False)
            except Exception:  # the flusher must outlive any one bad batch
                logger.exception("flush failed")

    def _flush(self, everything: bool) -> None:
        with self._lock:
            groups = self._buffer.take_ready(everything)
            self._spool.rotate_if_due()
        if groups:
            rows, rejected, spans = self._rows(groups)
            limit = self._settings.store.batch_max_rows
            batches = [rows[i:i + limit] for i in range(0, len(rows), limit)] or [[]]
            # The traces' spool segments are released only after the last of their batches is stored.
            for index, batch in enumerate(batches):
                last = index == len(batches) - 1
                self._unsent.append(_Batch(batch, rejected if last else [], groups if last else [],
                                           self._traces.columns(spans) if index == 0 else None))
                self._unsent_rows += len(batch)
        if self._unsent and (everything or time.monotonic() >= self._retry_at):
            self._send_unsent()

    def _rows(self, groups: list[TraceGroup]) -> tuple[list[UsageRow], list[RejectedCall], list]:
        """Priced, checked rows of the traces; the calls that cannot be stored as dead letters; the spans
        to keep in otel_traces."""
        now = datetime.now(timezone.utc)
        rows, rejected, spans = [], [], []
        for group in groups:
            try:
                group_rows = build_usage_rows(group, self._attributor, self._price_book, now)
            except Exception as exc:  # a bug on one trace's data must not stop every other trace being written
                logger.exception("trace %s could not be priced; its calls are dead-lettered", group.trace_id)
                reason = f"the trace could not be priced: {type(exc).__name__}: {exc}"
                rejected.extend(deadletter.of_span(span, reason) for span in _call_spans(group))
                continue
            spans.extend(self._traces.spans(group, {row.tenant_id for row in group_rows}))
            if group.timed_out and group_rows:
                _rare.warn_rarely("trace-without-root", "trace %s written without its root span after %.0fs:"
                                  " its %d calls miss what the root would have said (tenant, feature, request)",
                                  group.trace_id, self._settings.attribution.max_trace_wait_seconds, len(group_rows))
            for row in group_rows:
                note = row.cost_note
                try:
                    rows.append(check_row(row))
                except RowRejected as exc:
                    rejected.append(deadletter.of_row(row, str(exc)))
                    continue
                self._counts["rows_adjusted"] += row.cost_note != note
        return rows, rejected, spans

    def _send_unsent(self) -> None:
        while self._unsent:
            batch = self._unsent[0]
            try:
                self._writer.write(batch.rows, batch.rejected, batch.spans)
            except StoreError as exc:
                self._retry_at = time.monotonic() + self._retry_delay
                logger.warning(
                    "insert of %d rows failed, retrying in %.0fs: %s", len(batch.rows), self._retry_delay, exc
                )
                self._retry_delay = min(self._retry_delay * 2, _MAX_RETRY_DELAY)
                return
            self._unsent.pop(0)
            self._unsent_rows -= len(batch.rows)
            self._retry_delay = 1.0
            with self._lock:
                for group in batch.release:
                    self._spool.release(group.segments, group.trace_id)
            self._stored_log.add(batch)


class _StoredLog:
    """What was stored, as an INFO line for the first insert and then one per interval, and at close (a
    line per insert was hundreds of lines an hour): rows, inserts, dead letters, the largest lag from a
    call's start to its insert."""

    def __init__(self, interval_seconds: float = 60.0):
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._logged_at: float | None = None
        self._rows = self._inserts = self._rejected = 0
        self._lag = 0.0

    def add(self, batch: _Batch) -> None:
        if not (batch.rows or batch.rejected):
            return
        lag = (datetime.now(timezone.utc) - min(row.ts for row in batch.rows)).total_seconds() if batch.rows else 0.0
        with self._lock:
            self._rows, self._inserts = self._rows + len(batch.rows), self._inserts + 1
            self._rejected, self._lag = self._rejected + len(batch.rejected), max(self._lag, lag)
            if self._logged_at is None or time.monotonic() - self._logged_at >= self._interval:
                self._log()

    def close(self) -> None:
        with self._lock:
            if self._inserts:
                self._log()

    def _log(self) -> None:
        since = "" if self._logged_at is None else f" in the last {time.monotonic() - self._logged_at:.0f}s"
        logger.info("stored %d rows in %d inserts%s (%d dead-lettered); largest lag %.1fs", self._rows,
                    self._inserts, since, self._rejected, self._lag)
        self._logged_at = time.monotonic()
        self._rows = self._inserts = self._rejected = 0
        self._lag = 0.0


def _call_spans(group: TraceGroup) -> list:
    """The spans of the group that are (or may be) LLM calls: what a failed trace dead-letters."""
    found = []
    for span in group.spans:
        if span.span_id in group.calls:
            is_call = group.calls[span.span_id] is not None
        else:  # replayed from the spool: read it again
            try:
                is_call = extract_call(span) is not None
            except Exception:  # unreadable: keep it, it may be one
                is_call = True
        if is_call:
            found.append(span)
    return found


@dataclass(slots=True)
class _Batch:
    rows: list[UsageRow]
    rejected: list[RejectedCall]  # dead letters to store with this batch
    release: list[TraceGroup]  # traces whose spool entries can go once this batch is stored
    spans: list[list] | None = None  # otel_traces columns (traces.py), stored first
