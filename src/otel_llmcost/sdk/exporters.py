"""Span exporters for apps that price in-process: PricingSpanExporter hands every span on to any exporter
(OTLP, console, a vendor's), LLM calls with their cost; UsageRowExporter writes the priced rows straight
to ClickHouse, for apps that run no receiver.

Both are wrapped by the SDK's BatchSpanProcessor (sdk.setup). A timer thread releases traces whose wait is
over (their root never ends in this process); force_flush and shutdown release everything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_llmcost.errors import StoreError
from otel_llmcost.flush.writer import BatchWriter
from otel_llmcost.model import UsageRow
from otel_llmcost.rows.deadletter import RejectedCall
from otel_llmcost.sdk.core import InAppPricer
from otel_llmcost.store import UsageStore

logger = logging.getLogger(__name__)
_TICK_SECONDS = 1.0


class _Pricing(SpanExporter):
    def __init__(self, pricer: InAppPricer):
        self._pricer = pricer
        self._lock = threading.Lock()  # one hand-off at a time: the processor's thread or the timer's
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._tick, name="llmcost-sdk-pricing", daemon=True)
        self._timer.start()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        passed = self._pricer.add(spans)
        return self._hand_on(passed, everything=False)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._hand_on([], everything=True) == SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._stop.set()
        self._timer.join()
        self._hand_on([], everything=True)

    def _tick(self) -> None:
        while not self._stop.wait(_TICK_SECONDS):
            try:
                self._hand_on([], everything=False)
            except Exception:  # the timer must outlive any one failure
                logger.exception("in-app pricing failed")

    def _hand_on(self, passed: list[ReadableSpan], everything: bool) -> SpanExportResult:
        with self._lock:
            built, priced = self._pricer.release(everything)
            return self._deliver(passed + priced, built.rows, built.rejected)

    def _deliver(self, spans: list[ReadableSpan], rows: list[UsageRow], rejected: list[RejectedCall]
                 ) -> SpanExportResult:
        raise NotImplementedError


class PricingSpanExporter(_Pricing):
    """Prices LLM call spans and hands every span to `exporter`: LLM calls as copies with their cost."""

    def __init__(self, exporter: SpanExporter, pricer: InAppPricer):
        self._exporter = exporter
        super().__init__(pricer)

    def shutdown(self) -> None:
        super().shutdown()
        self._exporter.shutdown()

    def _deliver(self, spans, rows, rejected) -> SpanExportResult:
        return self._exporter.export(spans) if spans else SpanExportResult.SUCCESS


class UsageRowExporter(_Pricing):
    """Prices LLM call spans and writes their rows to a store (a ClickHouse server), in batches of up to
    `batch_max_rows`; a failed insert is retried with backoff, holding at most `max_unsent_rows` (then the
    oldest batch is dropped and logged: an app must not grow without bound while its store is down).

    `store`: an open store; or `open_store`, which opens one when the first rows are ready and again after
    each failure until it succeeds, so an app starts (and runs) while its ClickHouse is unreachable."""

    def __init__(self, store: UsageStore | None, pricer: InAppPricer, batch_max_rows: int = 10_000,
                 max_unsent_rows: int = 100_000, open_store: Callable[[], UsageStore] | None = None):
        if (store is None) == (open_store is None):
            raise ValueError("give either a store or open_store")
        self._store = store
        self._open_store = open_store
        self._writer = BatchWriter(store) if store is not None else None
        self._batch_max_rows = batch_max_rows
        self._max_unsent_rows = max_unsent_rows
        self._unsent: list[tuple[list[UsageRow], list[RejectedCall]]] = []
        self._retry_at, self._retry_delay = 0.0, 1.0
        self.failed_attempts = 0  #: opens and inserts that failed (each retried later)
        self.dropped_rows = 0  #: priced rows given up over max_unsent_rows
        super().__init__(pricer)

    @property
    def rows_written(self) -> int:
        return self._writer.counts.rows_written if self._writer is not None else 0

    @property
    def unsent_rows(self) -> int:
        """Priced rows waiting for the store."""
        return sum(len(batch) for batch, _ in self._unsent)

    def shutdown(self) -> None:
        super().shutdown()
        if self._unsent:
            logger.error("%d rows could not be stored before shutdown", self.unsent_rows)
        if self._store is not None:
            self._store.close()

    def _deliver(self, spans, rows, rejected) -> SpanExportResult:
        for start in range(0, len(rows), self._batch_max_rows):
            self._unsent.append((rows[start:start + self._batch_max_rows], []))
        if rejected:
            self._unsent.append(([], rejected))
        while self.unsent_rows > self._max_unsent_rows:
            dropped, _ = self._unsent.pop(0)
            self.dropped_rows += len(dropped)
            logger.error("store unreachable: %d priced rows dropped (max_unsent_rows)", len(dropped))
        if not self._unsent or time.monotonic() < self._retry_at:
            return SpanExportResult.SUCCESS
        try:
            writer = self._writer or self._open()
            while self._unsent:
                batch, dead = self._unsent[0]
                writer.write(batch, dead)
                self._unsent.pop(0)
        except StoreError as exc:
            self.failed_attempts += 1
            self._retry_at = time.monotonic() + self._retry_delay
            logger.warning("%d rows not stored, retrying in %.0fs: %s", self.unsent_rows, self._retry_delay, exc)
            self._retry_delay = min(self._retry_delay * 2, 30.0)
        else:
            self._retry_delay = 1.0
        return SpanExportResult.SUCCESS

    def _open(self) -> BatchWriter:
        assert self._open_store is not None  # no writer yet: the store is opened here
        self._store = self._open_store()
        self._writer = BatchWriter(self._store)
        return self._writer
