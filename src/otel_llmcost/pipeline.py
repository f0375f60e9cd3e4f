"""The write path, wired: ingest (validate -> admit: spool, buffer; then the ack) ... flush (a thread:
released traces -> rows: attribute, price, check -> batches to the store -> spool release).

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
from otel_llmcost.flush.flusher import Flusher
from otel_llmcost.flush.writer import BatchWriter
from otel_llmcost.ingest.admit import Admission
from otel_llmcost.ingest.validate import validate
from otel_llmcost.model import IngestResult, PipelineStats
from otel_llmcost.pricing import PriceBook
from otel_llmcost.rows.attribution import Attributor
from otel_llmcost.rows.build import RowBuilder
from otel_llmcost.rows.traces import TraceKeeper
from otel_llmcost.semconv import WANTED_ATTRIBUTES
from otel_llmcost.store import UsageStore

logger = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, settings: Settings, store: UsageStore, price_book: PriceBook):
        attributor, keeper = Attributor(settings.attribution.keys), TraceKeeper(settings.traces)
        self._wanted = WANTED_ATTRIBUTES.union(attributor.wanted).union(keeper.wanted)
        self._admission = Admission(settings)
        self._rows = RowBuilder(attributor, keeper, price_book, settings.attribution.max_trace_wait_seconds)
        self._writer = BatchWriter(store)
        self._flusher = Flusher(self._admission, self._rows.build, self._writer,
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
            unsent_rows=self._flusher.unsent_rows,
        )

    def start(self) -> None:
        """Replay what a previous run left in the spool, then start flushing."""
        replayed = self._admission.replay()
        if replayed:
            logger.info("replaying %d spans from the spool", replayed)
        self._flusher.start()

    def ingest(self, request: PB2ExportTraceServiceRequest) -> IngestResult:
        """Validate, then durably accept the request's spans. Raises OverloadedError to ask for a retry."""
        export = validate(request, self._wanted)
        self._admission.admit(export, self._flusher.unsent_rows)
        return export.result()

    def close(self) -> None:
        """Stop flushing, write the traces that are ready; traces still waiting for ancestors stay in the
        spool, and their wait goes on after the next start."""
        self._flusher.close()
        waiting = self._admission.close()
        if waiting:
            logger.info("%d spans of traces still waiting for their ancestors stay in the spool", waiting)
        logger.info("pipeline: %s", self.stats())
