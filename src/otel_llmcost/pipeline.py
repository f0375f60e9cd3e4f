"""The write path, wired: ingest (validate -> admit: forward queue, spool, buffer; then the ack) ... flush
(a thread: released traces -> rows: attribute, price, check -> priced spans to the forward queue -> batches
to the store -> spool release). forward/ sends the queue to its destinations on its own threads.

`ingest` runs on the receivers' threads and returns once the spans are durable in the spool. On SIGTERM,
traces still waiting for ancestors stay in the spool for the next start. Each stage keeps its own counts;
`stats()` gathers them.

With several ingest workers (receiver.workers) each worker process runs a Pipeline of its own, and the
receivers' process routes exports to them (ingest/pool.py); open_write_path picks one or the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)

from otel_llmcost.config import Settings
from otel_llmcost.decode import parse_protobuf, trace_ids
from otel_llmcost.decode.tenant import bind_key
from otel_llmcost.errors import OverloadedError
from otel_llmcost.flush.flusher import Flusher
from otel_llmcost.flush.writer import BatchWriter
from otel_llmcost.ingest.admit import Admission
from otel_llmcost.ingest.spooldirs import adopt_orphans
from otel_llmcost.ingest.tracebuffer import TraceGroup
from otel_llmcost.ingest.validate import validate
from otel_llmcost.model import IngestResult, PipelineStats, UsageRow
from otel_llmcost.ops.costmetrics import CostMetrics, instance_id
from otel_llmcost.pricing import PriceBook
from otel_llmcost.rows.attribution import Attributor
from otel_llmcost.rows.build import RowBuilder, TraceRows
from otel_llmcost.rows.traces import TraceKeeper
from otel_llmcost.semconv import WANTED_ATTRIBUTES
from otel_llmcost.store import WritableStore

if TYPE_CHECKING:  # loaded only when forwarding: its transport loads grpc's client and urllib
    from otel_llmcost.forward import Forwarder

logger = logging.getLogger(__name__)


class WritePath(Protocol):
    """What the receivers and `serve` use: a Pipeline in this process, or ingest.pool.WorkerPool."""

    forwarder: Forwarder | None
    cost_metrics: CostMetrics

    def start(self) -> int: ...

    def ingest_wire(self, body: bytes, key: tuple[str, str | None] | None) -> IngestResult: ...

    def ingest(self, request: PB2ExportTraceServiceRequest) -> IngestResult: ...

    def pass_through(self, signal: str, items: int, body: bytes) -> None: ...

    def stats(self) -> PipelineStats: ...

    @property
    def rows_written(self) -> int: ...

    def close(self) -> None: ...


def open_write_path(settings: Settings, store: WritableStore, price_book: PriceBook) -> WritePath:
    """receiver.workers ingest workers: this process alone for one; for more, worker processes and this one
    holding the store and the listeners. Forwarding keeps one: its queue is written with the spool, under
    the same lock, so that a crash sends a span twice rather than never (forward/)."""
    workers = settings.receiver.worker_count
    if workers > 1 and settings.forward.destinations:
        logger.info("forwarding: the %d ingest workers are run as one, in this process", workers)
        workers = 1
    if adopted := adopt_orphans(settings.spool_dir, workers):
        logger.info("%d spool segments handed over to the current %d worker(s)", adopted, workers)
    if workers == 1:
        return Pipeline(settings, store, price_book)
    from otel_llmcost.ingest.pool import WorkerPool  # its workers import this module

    return WorkerPool(settings, store, price_book, workers)


class Pipeline:
    """The write path in this process: the only one with one ingest worker, each worker's with several
    (ingest/pool.py). `spool_dir`: the worker's own; `on_stored`: told of the rows each insert stored
    (default: this pipeline's cost metrics)."""

    def __init__(self, settings: Settings, store: WritableStore, price_book: PriceBook, spool_dir: str | None = None,
                 on_stored: Callable[[Sequence[UsageRow]], None] | None = None):
        attributor, keeper = Attributor(settings.attribution.keys), TraceKeeper(settings.traces)
        self._wanted = WANTED_ATTRIBUTES.union(attributor.wanted).union(keeper.wanted)
        self._admission = Admission(settings, spool_dir)
        self._rows = RowBuilder(attributor, keeper, price_book, settings.attribution.max_trace_wait_seconds)
        self.cost_metrics = CostMetrics(settings.metrics.attributes, settings.metrics.max_series,
                                        instance_id(settings.data_dir))
        self._writer = BatchWriter(store, on_stored=on_stored or self.cost_metrics.observe,
                                   max_rows=settings.store.batch_max_rows)
        self.forwarder: Forwarder | None = None
        if settings.forward.destinations:
            from otel_llmcost.forward import Forwarder

            self.forwarder = Forwarder(settings, self.cost_metrics.otlp)
        self._flusher = Flusher(self._admission, self._build, self._writer,
                                settings.store.flush_interval_seconds, settings.store.batch_max_rows)

    @property
    def rows_written(self) -> int:
        return self._writer.counts.rows_written

    def stats(self) -> PipelineStats:
        """A snapshot of the counters an operator watches (served as /metrics by the receiver)."""
        counts = self._writer.counts
        return PipelineStats(
            **self._admission.figures(), rows_adjusted=self._rows.rows_adjusted, rows_written=counts.rows_written,
            rows_already_stored=counts.rows_already_stored, rows_dead_lettered=counts.rows_dead_lettered,
            spans_written=counts.spans_written, unsent_rows=self._flusher.unsent_rows,
            oldest_unsent_seconds=self._flusher.oldest_unsent_seconds,
        )

    def start(self) -> int:
        """Replay what a previous run left in the spool, then start flushing; returns the spans replayed."""
        replayed = self._admission.replay()
        if replayed:
            logger.info("replaying %d spans from the spool", replayed)
        if self.forwarder is not None:
            self.forwarder.start()
        self._flusher.start()
        return replayed

    def ingest_wire(self, body: bytes, key: tuple[str, str | None] | None) -> IngestResult:
        """A binary OTLP export as received; `key`: the client's key's (id, tenant), bound to every span.
        Raises DecodeError for a body that is no export, OverloadedError to ask for a retry."""
        parsed: list[PB2ExportTraceServiceRequest] = []

        def parse() -> PB2ExportTraceServiceRequest:
            if not parsed:
                parsed.append(parse_protobuf(body))
                if key is not None:
                    bind_key(parsed[0], *key)
            return parsed[0]

        # before parsing: a refusal costs no decode (parsed only to find its traces when the buffer is full)
        over = self._admission.check_room(self._flusher.unsent_rows, lambda: trace_ids(parse()))
        return self._accept(parse(), over)

    def ingest(self, request: PB2ExportTraceServiceRequest) -> IngestResult:
        """Validate, then durably accept the request's spans. Raises OverloadedError to ask for a retry."""
        over = self._admission.check_room(self._flusher.unsent_rows, lambda: trace_ids(request))  # before decoding
        return self._accept(request, over)

    def _accept(self, request: PB2ExportTraceServiceRequest, over: bool) -> IngestResult:
        export = validate(request, self._wanted)
        forwarder = self.forwarder
        if forwarder is not None:
            prepared = forwarder.prepare(request, export.spans, export.calls)  # the CPU part, outside the lock
        forward = None if forwarder is None else (lambda fresh: forwarder.record(prepared, fresh))
        self._admission.admit(export, self._flusher.unsent_rows, forward, over)
        return export.result()

    def pass_through(self, signal: str, items: int, body: bytes) -> None:
        """Queue a metrics or logs export for the forward destinations, as it came (durably, before the ack).
        Raises OverloadedError when the queue cannot be written."""
        from otel_llmcost.forward.outbox import PASS_LOGS, PASS_METRICS

        kind = PASS_METRICS if signal == "metrics" else PASS_LOGS
        forwarder = self.forwarder
        assert forwarder is not None  # the receivers take metrics and logs only when forwarding (Intake.forwarding)
        try:
            forwarder.passthrough(kind, items, body)
        except OSError as exc:
            raise OverloadedError(f"cannot write the forward queue ({exc.strerror or exc}); retry later") from exc

    def _build(self, groups: list[TraceGroup]) -> TraceRows:
        """Rows of the released traces; their held LLM call spans go to the forward queue with the cost."""
        built = self._rows.build(groups)
        if self.forwarder is not None:
            try:
                self.forwarder.priced(groups, built.rows, built.rejected)
            except Exception:  # the rows are stored regardless; the spans are sent unpriced by the keeper
                logger.exception("priced spans of %d traces could not be queued for forwarding", len(groups))
        return built

    def close(self) -> None:
        """Stop flushing, write the traces that are ready; traces still waiting for ancestors stay in the
        spool, and their wait goes on after the next start."""
        self._flusher.close()
        waiting = self._admission.close()
        if self.forwarder is not None:
            self.forwarder.close()
        if waiting:
            logger.info("%d spans of traces still waiting for their ancestors stay in the spool", waiting)
        logger.info("pipeline: %s", self.stats())
