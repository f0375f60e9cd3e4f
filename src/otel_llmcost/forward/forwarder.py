"""The processor role: every accepted span goes on to each forward destination once, LLM call spans with
their cost.

- At ingest (before the acknowledgment, within admission's lock): the export's new spans that are not LLM
  calls go into the queue to be sent now; its LLM call spans go in as held.
- When the flusher has priced a trace (before it is stored: storage never waits for a destination, and a
  destination never waits for the store), its held spans go in again with their cost, which settles them.
- Metrics and logs exports go into the queue as they came.
- A thread per destination sends (sender.py); a keeper thread rotates segments, keeps the queue under its
  byte bound and gives up on held spans whose trace never got priced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)

from otel_llmcost.config import Settings
from otel_llmcost.forward import enrich
from otel_llmcost.forward.outbox import HOLD, PASS_METRICS, PASS_TRACES, PRICED, Cursor, Outbox, Record
from otel_llmcost.forward.sender import Sender
from otel_llmcost.forward.transport import Transport
from otel_llmcost.ingest.tracebuffer import TraceGroup
from otel_llmcost.model import LlmCall, SpanRecord, UsageRow
from otel_llmcost.rows.deadletter import RejectedCall

logger = logging.getLogger(__name__)

_PRICED_RECORD_SPANS = 500  # spans per PRICED record: a destination export stays a few hundred KB
_KEEPER_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Prepared:
    """An export ready to be queued (Forwarder.prepare)."""

    request: PB2ExportTraceServiceRequest
    spans: Sequence[SpanRecord]
    calls: Sequence[LlmCall | None]
    split: tuple[enrich.Split, list]


class Forwarder:
    def __init__(self, settings: Settings, metrics: Callable[[], tuple[int, bytes] | None] | None = None):
        """`metrics`: an OTLP metrics export (data points, body) to send every metrics.export_interval_seconds."""
        forward = settings.forward
        self._metrics = metrics
        self._metrics_interval = settings.metrics.export_interval_seconds
        self._metrics_due = time.monotonic() + self._metrics_interval
        self._max_bytes = forward.max_queue_bytes
        self._max_batch_bytes = forward.max_batch_bytes
        #: held spans whose trace got no price this long after arriving are sent without one
        self._stale_seconds = 2 * settings.attribution.max_trace_wait_seconds + 60
        self._lock = threading.Lock()
        self._outbox = Outbox(settings.forward_dir, [d.label for d in forward.destinations], settings.spool_fsync,
                              segment_max_bytes=min(16 * 1024 * 1024, forward.max_queue_bytes // 8))
        self._held: dict[str, dict[str, enrich.Held]] = {}  # trace id -> span id -> held span
        self._held_since: dict[str, float] = {}  # trace id -> when its first span was held
        self._held_count = 0
        self.passed_spans = self.priced_spans = self.stale_spans = 0
        self.dropped: dict[str, int] = {d.label: 0 for d in forward.destinations}
        self._senders = [Sender(Transport(d), self, forward.max_batch_bytes, forward.max_retry_delay_seconds)
                         for d in forward.destinations]
        self._stop = threading.Event()
        self._keeper = threading.Thread(target=self._keep, name="llmcost-forward-keeper", daemon=True)
        self._replay()

    def _replay(self) -> None:
        for segment, record in self._outbox.replay():
            if record.kind == HOLD:
                self._hold(enrich.held_spans(_request(record.body), segment))
            elif record.kind == PRICED:
                self._settle(enrich.span_keys(_request(record.body)))
        if self._held_count:
            logger.info("forward queue: %d LLM call spans wait for their price again", self._held_count)

    def start(self) -> None:
        for sender in self._senders:
            sender.start()
        self._keeper.start()

    def close(self) -> None:
        self._stop.set()
        if self._keeper.is_alive():
            self._keeper.join()
        try:
            self._export_metrics(final=True)  # the last figures; delivered now or after the next start
        except OSError:
            logger.warning("forward queue: the last cost metrics could not be queued")
        for sender in self._senders:
            sender.stop()
        with self._lock:
            self._outbox.close()

    # -- ingest: the admission's lock is held

    def prepare(self, request: PB2ExportTraceServiceRequest, spans: Sequence[SpanRecord],
                calls: Sequence[LlmCall | None]) -> Prepared:
        """Outside admission's lock: the export split as if every span is new, as it nearly always is."""
        return Prepared(request, spans, calls, self._split(request, spans, calls, range(len(spans))))

    def _split(self, request, spans, calls, fresh: Iterable[int]) -> tuple[enrich.Split, list]:
        fresh_keys, call_keys = set(), set()
        for index in fresh:
            key = (spans[index].trace_id, spans[index].span_id)
            fresh_keys.add(key)
            if calls[index] is not None:
                call_keys.add(key)
        parts = enrich.split(request, fresh_keys, call_keys)
        return parts, self._parts(parts.now) if parts.now is not None else []

    def record(self, prepared: Prepared, fresh: Sequence[int]) -> Callable[[], None]:
        """Queue the export's `fresh` spans; returns what undoes it (the spool then refused the export).
        Raises OSError when the queue cannot be written (nothing of it stays)."""
        parts, now = prepared.split if len(fresh) == len(prepared.spans) else self._split(
            prepared.request, prepared.spans, prepared.calls, fresh)
        with self._lock:
            records = [(PASS_TRACES, count, body) for count, body in now]
            if parts.held is not None:  # held spans are sent again, priced, in parts of a bounded size
                records.append((HOLD, len(parts.held_keys), parts.held.SerializeToString()))
            mark = self._outbox.append(records) if records else None
            if parts.held is not None:
                assert mark is not None  # records holds the HOLD record, so it was appended
                self._hold(enrich.held_spans(parts.held, mark[0]))
            self.passed_spans += parts.now_count
        self._wake()

        def undo() -> None:
            with self._lock:
                self._settle(parts.held_keys)
                self.passed_spans -= parts.now_count
                if mark is not None:
                    self._outbox.undo(mark)
        return undo

    def _parts(self, request: PB2ExportTraceServiceRequest) -> list[tuple[int, bytes]]:
        """(spans, serialized request) parts of at most max_batch_bytes, the most one export carries."""
        if request.ByteSize() <= self._max_batch_bytes:
            count = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
            return [(count, request.SerializeToString())]
        return [(count, part.SerializeToString())
                for part, count in enrich.split_by_size(request, self._max_batch_bytes)]

    def passthrough(self, kind: int, items: int, body: bytes) -> None:
        """Queue a metrics or logs export as it came. Raises OSError when the queue cannot be written."""
        with self._lock:
            self._outbox.append([(kind, items, body)])
        self._wake()

    # -- the flusher's thread, once traces are priced

    def priced(self, groups: Sequence[TraceGroup], rows: Sequence[UsageRow], rejected: Sequence[RejectedCall]) -> None:
        """Queue the held spans of these traces with their rows' cost (or why they have none)."""
        outcomes: dict[str, UsageRow | str] = {row.span_id: row for row in rows}
        outcomes.update({call.span_id: f"not stored: {call.reason}" for call in rejected})
        with self._lock:
            claimed = [held for group in groups for held in self._claim(group.trace_id, group.spans)]
        self._send_settled(claimed, outcomes)

    def _claim(self, trace_id: str, spans: Sequence[SpanRecord] | None) -> list[enrich.Held]:
        """Take the held spans of a trace (those among `spans`; all when None) out of the held set; they
        still pin their segments until _send_settled() has queued them."""
        trace = self._held.get(trace_id)
        if not trace:
            return []
        ids = list(trace) if spans is None else [span.span_id for span in spans if span.span_id in trace]
        claimed = [trace.pop(span_id) for span_id in ids]
        if not trace:
            del self._held[trace_id]
            self._held_since.pop(trace_id, None)
        return claimed

    def _send_settled(self, claimed: list[enrich.Held], outcomes: dict[str, UsageRow | str]) -> None:
        """Queue claimed spans with their cost; each record settles the spans it holds, in the same write."""
        for start in range(0, len(claimed), _PRICED_RECORD_SPANS):
            part = claimed[start:start + _PRICED_RECORD_SPANS]
            pieces = self._parts(enrich.priced(part, outcomes))
            with self._lock:
                try:  # each record settles the spans it holds: on replay, those are not held again
                    self._outbox.append([(PRICED, count, body) for count, body in pieces])
                except OSError as exc:  # held again: the keeper's sweep or the next start retries
                    logger.warning("forward queue: %d priced spans could not be queued: %s", len(part), exc)
                    for held in part:
                        trace_id = held.span.trace_id.hex()
                        self._held.setdefault(trace_id, {})[held.span.span_id.hex()] = held
                        self._held_since.setdefault(trace_id, time.monotonic())
                    continue
                for held in part:
                    self._outbox.holds[held.segment] -= 1
                self._held_count -= len(part)
                self.priced_spans += len(part)
        self._wake()

    # -- held spans (the lock is held)

    def _hold(self, items: Iterable[tuple[enrich.SpanKey, enrich.Held]]) -> None:
        now = time.monotonic()
        for (trace_id, span_id), held in items:
            trace = self._held.setdefault(trace_id, {})
            self._held_since.setdefault(trace_id, now)
            if span_id in trace:
                continue
            trace[span_id] = held
            self._outbox.holds[held.segment] = self._outbox.holds.get(held.segment, 0) + 1
            self._held_count += 1

    def _settle(self, keys: Iterable[enrich.SpanKey]) -> None:
        for trace_id, span_id in keys:
            trace = self._held.get(trace_id)
            held = trace.pop(span_id, None) if trace else None
            if held is None:
                continue
            self._outbox.holds[held.segment] -= 1
            self._held_count -= 1
            if not trace:
                del self._held[trace_id]
                self._held_since.pop(trace_id, None)

    # -- the senders' side (Queue in sender.py)

    def next_records(self, name: str, max_bytes: int) -> tuple[Cursor, list[Record]]:
        while True:
            with self._lock:
                cursor = self._outbox.cursors[name]
                limit, finished = self._outbox.readable(cursor[0])
                if cursor[1] >= limit and finished:
                    self._outbox.advance(name, (cursor[0] + 1, 0))
                    continue
            return cursor, list(self._outbox.read(cursor, limit, max_bytes))

    def delivered(self, name: str, end: Cursor) -> None:
        with self._lock:
            self._outbox.advance(name, end)

    def still_at(self, name: str, start: Cursor) -> bool:
        with self._lock:
            return self._outbox.cursors[name] <= start

    def _wake(self) -> None:
        for sender in self._senders:
            sender.wake.set()

    # -- the keeper

    def _keep(self) -> None:
        while not self._stop.wait(_KEEPER_SECONDS):
            try:
                self._sweep_stale()
                self._export_metrics(final=False)
                with self._lock:
                    self._outbox.rotate_if_due()
                    self._bound()
                    self._outbox.collect()
            except Exception:
                logger.exception("forward queue upkeep failed")

    def _export_metrics(self, final: bool) -> None:
        if self._metrics is None or not (final or time.monotonic() >= self._metrics_due):
            return
        self._metrics_due = time.monotonic() + self._metrics_interval
        export = self._metrics()
        if export is not None:
            self.passthrough(PASS_METRICS, *export)

    def _sweep_stale(self) -> None:
        deadline = time.monotonic() - self._stale_seconds
        with self._lock:
            stale = [trace_id for trace_id, since in self._held_since.items() if since < deadline]
            claimed = [held for trace_id in stale for held in self._claim(trace_id, None)]
        if claimed:
            self.stale_spans += len(claimed)
            logger.warning("forward queue: %d LLM call spans never got priced; sent without a cost", len(claimed))
            self._send_settled(claimed, {})

    def _bound(self) -> None:
        """Over the byte bound: the oldest segment goes; destinations still reading it lose what they had not
        sent of it (counted), and its held spans move to the current segment."""
        while self._outbox.total_bytes > self._max_bytes:
            oldest = min(self._outbox.sizes)
            if oldest >= self._outbox.current - 1:
                return  # only the newest segments are left: they are within a rotation of the bound
            for name, cursor in self._outbox.cursors.items():
                if cursor[0] <= oldest:
                    self.dropped[name] += self._outbox.items_after(cursor) if cursor[0] == oldest else 0
                    self._outbox.advance(name, (oldest + 1, 0))
            pinned = [held for trace in self._held.values() for held in trace.values() if held.segment == oldest]
            if pinned:
                request, _ = enrich.regroup(pinned)
                segment, _ = self._outbox.append([(HOLD, len(pinned), request.SerializeToString())])
                for held in pinned:
                    held.segment = segment
                self._outbox.holds[segment] = self._outbox.holds.get(segment, 0) + len(pinned)
                self._outbox.holds[oldest] -= len(pinned)
            self._outbox.collect()
            if oldest in self._outbox.sizes:
                return  # spans of it being priced right now still pin it: the next round takes it

    def figures(self) -> dict[str, Any]:
        with self._lock:
            destinations = {
                sender.name: {**asdict(sender.counts), "dropped_items": self.dropped[sender.name],
                              "queued_bytes": self._outbox.unsent_bytes(sender.name)}
                for sender in self._senders
            }
            return {"held_spans": self._held_count, "passed_spans": self.passed_spans,
                    "priced_spans": self.priced_spans, "stale_spans": self.stale_spans,
                    "queue_bytes": self._outbox.total_bytes, "destinations": destinations}


def _request(body: bytes) -> PB2ExportTraceServiceRequest:
    request = PB2ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request
