"""The pipeline: decode -> validate -> spool + buffer (ack) ... flusher: attribute -> price -> store.

`ingest` runs on the receivers' threads and returns once the spans are durable in the spool. A flusher
thread releases finished traces from the buffer, turns them into priced rows and writes one INSERT per
batch. Rows that fail to insert are retried with backoff; their spool segments stay until they succeed.
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

from otel_llmcost import queries
from otel_llmcost.attribution import Attributor
from otel_llmcost.config import Settings
from otel_llmcost.decode import decode_spans
from otel_llmcost.errors import OverloadedError, StoreError
from otel_llmcost.model import IngestResult, UsageRow
from otel_llmcost.pricing import PriceBook
from otel_llmcost.semconv import WANTED_ATTRIBUTES, InvalidSpan, extract_call
from otel_llmcost.spool import Spool
from otel_llmcost.store import UsageStore
from otel_llmcost.tracebuffer import TraceBuffer, TraceGroup
from otel_llmcost.traces import TraceKeeper
from otel_llmcost.usage import build_usage_rows

logger = logging.getLogger(__name__)

_MAX_RETRY_DELAY = 30.0
_MAX_UNSENT_ROWS = 1_000_000


class Pipeline:
    def __init__(self, settings: Settings, store: UsageStore, price_book: PriceBook):
        self._settings = settings
        self._store = store
        self._price_book = price_book
        self._attributor = Attributor(settings.attribution.keys)
        self._traces = TraceKeeper(settings.traces)
        self._wanted = WANTED_ATTRIBUTES.union(self._attributor.wanted).union(self._traces.wanted)
        self._buffer = TraceBuffer(settings.attribution.trace_wait_seconds, settings.attribution.max_trace_wait_seconds)
        self._spool = Spool(settings.spool_dir, fsync=settings.spool_fsync)
        self._lock = threading.Lock()
        self._unsent: list[_Batch] = []
        self._unsent_rows = 0
        self._retry_at = 0.0
        self._retry_delay = 1.0
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._run_flusher, name="llmcost-flusher", daemon=True)
        self.rows_written = 0

    def start(self) -> None:
        """Replay what a previous run left in the spool, then start flushing."""
        replayed = 0
        for segment, spans in self._spool.replay():
            replayed += len(self._buffer.add(spans, segment, replayed=True))
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
            if self._buffer.span_count >= self._settings.attribution.max_buffered_spans:
                raise OverloadedError("receiver buffer is full; retry later")
            if self._unsent_rows >= _MAX_UNSENT_ROWS:
                raise OverloadedError("the store is not accepting rows; retry later")
            # Only new spans go to the spool: a re-sent export must not pin a segment no trace will release.
            accepted = self._buffer.add(usable, self._spool.current, calls=calls)
            self._spool.append(accepted)
        message = "; ".join(decoded.reasons)
        if decoded.rejected > len(decoded.reasons):
            message += f"; and {decoded.rejected - len(decoded.reasons)} more"
        return IngestResult(len(usable), decoded.rejected, message)

    def close(self) -> None:
        """Stop flushing, write every buffered trace now (ignoring the wait), release the spool."""
        self._stop.set()
        if self._flusher.is_alive():
            self._flusher.join()
        self._flush(everything=True)
        for attempt in range(3):
            if not self._unsent:
                break
            time.sleep(attempt)
            self._send_unsent()
        if self._unsent:
            logger.error("%d rows could not be stored; they stay in the spool for the next start", self._unsent_rows)
        with self._lock:
            self._spool.close()

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
            now = datetime.now(timezone.utc)
            rows, replayed_rows, spans = [], [], []
            for group in groups:
                try:
                    group_rows = build_usage_rows(group, self._attributor, self._price_book, now)
                except Exception:  # a bug on one trace's data must not stop every other trace being written
                    logger.exception("trace %s could not be priced; its calls are not stored", group.trace_id)
                    continue
                (replayed_rows if group.replayed else rows).extend(group_rows)
                spans.extend(self._traces.spans(group, has_calls=bool(group_rows)))
            limit = self._settings.store.batch_max_rows
            batches = [(rows[i:i + limit], False) for i in range(0, len(rows), limit)]
            batches += [(replayed_rows[i:i + limit], True) for i in range(0, len(replayed_rows), limit)]
            # The traces' spool segments are released only after the last of their batches is stored.
            last = len(batches) - 1
            for index, (batch, replayed) in enumerate(batches or [([], False)]):
                self._unsent.append(_Batch(batch, replayed, groups if index >= last else [],
                                           self._traces.columns(spans) if index == 0 else None))
                self._unsent_rows += len(batch)
        if self._unsent and (everything or time.monotonic() >= self._retry_at):
            self._send_unsent()

    def _send_unsent(self) -> None:
        while self._unsent:
            batch = self._unsent[0]
            try:
                if batch.spans:
                    self._store.insert_traces(batch.spans)
                rows = self._without_stored(batch.rows) if batch.replayed else batch.rows
                self._store.insert_usage(rows)
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
            self.rows_written += len(rows)
            with self._lock:
                for group in batch.release:
                    self._spool.release(group.segments, group.trace_id)

    def _without_stored(self, rows: list[UsageRow]) -> list[UsageRow]:
        """Rows replayed from the spool may have been stored just before a crash; drop those."""
        if not rows:
            return rows
        stored = self._store.query(
            queries.stored_spans(self._store.database), {"trace_ids": sorted({row.trace_id for row in rows})}
        )
        stored_keys = {(row["trace_id"], row["span_id"]) for row in stored}
        return [row for row in rows if (row.trace_id, row.span_id) not in stored_keys]


@dataclass(slots=True)
class _Batch:
    rows: list[UsageRow]
    replayed: bool  # rows from the spool of an earlier run: check the store for them first
    release: list[TraceGroup]  # traces whose spool entries can go once this batch is stored
    spans: list[list] | None = None  # otel_traces columns (traces.py), stored first
