"""Pricing in the app: the receiver's trace buffer, dialects, dedupe, attribution and price book, fed with the
OpenTelemetry SDK's finished spans instead of OTLP.

Children end before their parents, so an LLM call is priced once its trace is complete (its local root has
ended), or after the trace waits, exactly as in the receiver. Spans that are not LLM calls are handed on at
once. No network, no chDB: the exporters in this package do the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from opentelemetry.sdk.trace import ReadableSpan

from otel_llmcost.config import DEFAULT_ATTRIBUTION_KEYS, TracesSettings
from otel_llmcost.decode import summarise_documents
from otel_llmcost.forward.enrich import PREFIX, cost_attributes
from otel_llmcost.ingest.tracebuffer import TraceBuffer
from otel_llmcost.model import LlmCall, SpanRecord, UsageRow
from otel_llmcost.pricing import PriceBook, load_price_book
from otel_llmcost.rows.attribution import Attributor
from otel_llmcost.rows.build import RowBuilder, TraceRows
from otel_llmcost.rows.traces import TraceKeeper
from otel_llmcost.semconv import WANTED_ATTRIBUTES, extract_call


def span_record(span: ReadableSpan) -> SpanRecord:
    """An SDK span as the pipeline's SpanRecord (OTLP's span kind numbers: the SDK's are one lower)."""
    parent = span.parent
    return SpanRecord(
        f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}", f"{parent.span_id:016x}" if parent else "",
        span.name, span.kind.value + 1, span.start_time or 0, span.end_time or 0, span.status.status_code.value,
        span.status.description or "", _plain(span.attributes, documents=True), _plain(span.resource.attributes),
        span.instrumentation_scope.name if span.instrumentation_scope else "",
        (span.instrumentation_scope.version or "") if span.instrumentation_scope else "",
    )


def _plain(attributes, documents: bool = False) -> dict:
    plain = {key: list(value) if isinstance(value, tuple) else value for key, value in (attributes or {}).items()}
    if documents:  # response documents give their unit counts, as the receiver's decode does
        summarise_documents(plain, WANTED_ATTRIBUTES)
    return plain


class InAppPricer:
    """Thread-safe: the span processor's thread exports, the exporter's timer releases waiting traces."""

    def __init__(self, price_books: Sequence[str] = (), attribution_keys: Mapping[str, tuple[str, ...]] | None = None,
                 trace_wait_seconds: float = 5.0, max_trace_wait_seconds: float = 120.0,
                 price_book: PriceBook | None = None):
        keys = {**DEFAULT_ATTRIBUTION_KEYS, **(attribution_keys or {})}
        self._buffer = TraceBuffer(trace_wait_seconds, max_trace_wait_seconds)
        # keep=none: the in-app pricer keeps no spans (there is no otel_traces table here)
        self._rows = RowBuilder(Attributor(keys), TraceKeeper(TracesSettings(keep="none")),
                                price_book or load_price_book(tuple(price_books)), max_trace_wait_seconds)
        self._calls: dict[tuple[str, str], ReadableSpan] = {}  # LLM call spans waiting for their trace
        self._lock = threading.Lock()

    def add(self, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
        """Take finished spans; returns those that are not LLM calls (they need nothing more)."""
        records = [span_record(span) for span in spans]
        calls: list[LlmCall | None] = []
        for record in records:
            try:
                calls.append(extract_call(record))
            except Exception:  # noqa: BLE001 (a span no dialect can read is handed on as it is, not lost)
                calls.append(None)
        with self._lock:
            fresh = self._buffer.new_spans(records)
            self._buffer.add([records[i] for i in fresh], 0, 0, [calls[i] for i in fresh])
            for index in fresh:
                if calls[index] is not None:
                    self._calls[(records[index].trace_id, records[index].span_id)] = spans[index]
        return [span for span, call in zip(spans, calls, strict=True) if call is None]

    def release(self, everything: bool) -> tuple[TraceRows, list[ReadableSpan]]:
        """Price the traces that are ready (all when `everything`): their rows, and their LLM call spans as
        copies carrying the cost attributes the receiver would forward."""
        with self._lock:
            groups = self._buffer.take_ready(everything)
            waiting = [self._calls.pop((g.trace_id, s.span_id)) for g in groups for s in g.spans
                       if (g.trace_id, s.span_id) in self._calls]
            built = self._rows.build(groups)
        outcomes: dict[str, UsageRow | str] = {row.span_id: row for row in built.rows}
        outcomes.update({call.span_id: f"not stored: {call.reason}" for call in built.rejected})
        return built, [_priced(span, outcomes.get(f"{span.context.span_id:016x}", "no usage row was made"))
                       for span in waiting]


def _priced(span: ReadableSpan, outcome: UsageRow | str) -> ReadableSpan:
    if isinstance(outcome, str):
        extra: dict = {f"{PREFIX}cost.status": "unpriced", f"{PREFIX}cost.note": outcome}
    else:
        extra = cost_attributes(outcome, client_sent="gen_ai.usage.cost.amount" in (span.attributes or {}))
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes={**(span.attributes or {}), **extra}, events=span.events, links=span.links, kind=span.kind,
        status=span.status, start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
