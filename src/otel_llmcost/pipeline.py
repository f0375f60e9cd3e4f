"""The write path, wired: ingest (validate -> admit: forward queue, spool, buffer; then the ack) ... flush
(a thread: released traces -> rows: attribute, price, check -> priced spans to the forward queue -> batches
to the store -> spool release). forward/ sends the queue to its destinations on its own threads.

`ingest` runs on the receivers' threads and returns once the spans are durable in the spool. On SIGTERM,
traces still waiting for ancestors stay in the spool for the next start. Each stage keeps its own counts;
`stats()` gathers them.
"""

from __future__ import annotations

import logging

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)

from otel_llmcost.config import Settings
from otel_llmcost.errors import OverloadedError
from otel_llmcost.flush.flusher import Flusher
from otel_llmcost.flush.writer import BatchWriter
from otel_llmcost.forward import Forwarder
from otel_llmcost.forward.outbox import PASS_LOGS, PASS_METRICS
from otel_llmcost.ingest.admit import Admission
from otel_llmcost.ingest.tracebuffer import TraceGroup
from otel_llmcost.ingest.validate import validate
from otel_llmcost.model import IngestResult, PipelineStats
from otel_llmcost.ops.costmetrics import CostMetrics, instance_id
from otel_llmcost.pricing import PriceBook
from otel_llmcost.rows.attribution import Attributor
from otel_llmcost.rows.build import RowBuilder, TraceRows
from otel_llmcost.rows.traces import TraceKeeper
from otel_llmcost.semconv import WANTED_ATTRIBUTES
from otel_llmcost.store import WritableStore

logger = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, settings: Settings, store: WritableStore, price_book: PriceBook):
        attributor, keeper = Attributor(settings.attribution.keys), TraceKeeper(settings.traces)
        self._wanted = WANTED_ATTRIBUTES.union(attributor.wanted).union(keeper.wanted)
        self._admission = Admission(settings)
        self._rows = RowBuilder(attributor, keeper, price_book, settings.attribution.max_trace_wait_seconds)
        self.cost_metrics = CostMetrics(settings.metrics.attributes, settings.metrics.max_series,
                                        instance_id(settings.data_dir))
        self._writer = BatchWriter(store, on_stored=self.cost_metrics.observe, max_rows=settings.store.batch_max_rows)
        self.forwarder = Forwarder(settings, self.cost_metrics.otlp) if settings.forward.destinations else None
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

    def start(self) -> None:
        """Replay what a previous run left in the spool, then start flushing."""
        replayed = self._admission.replay()
        if replayed:
            logger.info("replaying %d spans from the spool", replayed)
        if self.forwarder is not None:
            self.forwarder.start()
        self._flusher.start()

    def ingest(self, request: PB2ExportTraceServiceRequest) -> IngestResult:
        """Validate, then durably accept the request's spans. Raises OverloadedError to ask for a retry."""
        export = validate(request, self._wanted)
        forwarder = self.forwarder
        if forwarder is not None:
            prepared = forwarder.prepare(request, export.spans, export.calls)  # the CPU part, outside the lock
        forward = None if forwarder is None else (lambda fresh: forwarder.record(prepared, fresh))
        self._admission.admit(export, self._flusher.unsent_rows, forward)
        return export.result()

    def pass_through(self, signal: str, items: int, body: bytes) -> None:
        """Queue a metrics or logs export for the forward destinations, as it came (durably, before the ack).
        Raises OverloadedError when the queue cannot be written."""
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
