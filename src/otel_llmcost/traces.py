"""Request traces: the spans of traces that hold an LLM call, as rows of the Collector's `otel_traces`.

Grafana's trace view then opens a request's whole trace (app span, LLM calls, tools, retries) by trace id,
through `otel_traces_trace_id_ts` (a view keeps it). `traces.keep`: llm (default: traces with a priced
call), all, or none. Attributes: decode keeps only what pricing and attribution read, so with traces on,
`wanted` widens the decode filter to every attribute; each span keeps at most `max_attributes` of them
(resource likewise), values cut to `max_attribute_bytes` (prompts and completions can be megabytes).
Span events and links are not decoded by the pipeline, so their columns stay empty.
"""

from __future__ import annotations

import json
from typing import Sequence

from otel_llmcost.config import TracesSettings
from otel_llmcost.decode.otlp import AttributeFilter
from otel_llmcost.model import SpanRecord
from otel_llmcost.tracebuffer import TraceGroup

TABLE = "otel_traces"
_MAP = "Map(LowCardinality(String), String)"
#: The insert's columns (the DDL is clickhouse/migrations/004_traces.sql, the Collector's).
COLUMN_TYPES = (
    ("Timestamp", "DateTime64(9)"), ("TraceId", "String"), ("SpanId", "String"), ("ParentSpanId", "String"),
    ("TraceState", "String"), ("SpanName", "LowCardinality(String)"), ("SpanKind", "LowCardinality(String)"),
    ("ServiceName", "LowCardinality(String)"), ("ResourceAttributes", _MAP), ("ScopeName", "String"),
    ("ScopeVersion", "String"), ("SpanAttributes", _MAP), ("Duration", "UInt64"),
    ("StatusCode", "LowCardinality(String)"), ("StatusMessage", "String"),
)
# As the Collector writes them (pdata's SpanKind / StatusCode names).
_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
_STATUSES = ("Unset", "Ok", "Error")
_EVERY_ATTRIBUTE = AttributeFilter(frozenset(), ("",))  # "" prefixes every key


class TraceKeeper:
    """Picks the spans to keep and turns them into otel_traces columns."""

    def __init__(self, settings: TracesSettings):
        self._settings = settings
        self._resources: dict[int, dict[str, str]] = {}  # one conversion per shared resource mapping

    @property
    def wanted(self) -> AttributeFilter:
        """The attributes decode must keep for these traces (none extra when traces are off)."""
        return AttributeFilter(frozenset()) if self._settings.keep == "none" else _EVERY_ATTRIBUTE

    def spans(self, group: TraceGroup, has_calls: bool) -> list[SpanRecord]:
        """The spans of `group` to store: all of them when keep=all, or keep=llm and the trace holds a call."""
        keep = self._settings.keep
        return list(group.spans) if keep == "all" or (keep == "llm" and has_calls) else []

    def columns(self, spans: Sequence[SpanRecord]) -> list[list]:
        """A columnar batch in COLUMN_TYPES order."""
        self._resources.clear()
        rows = [self._row(span) for span in spans]
        return [list(column) for column in zip(*rows)] if rows else [[] for _ in COLUMN_TYPES]

    def _row(self, span: SpanRecord) -> tuple:
        resource = self._resources.get(id(span.resource))
        if resource is None:
            resource = self._resources[id(span.resource)] = self._strings(span.resource)
        return (
            span.start_ns, span.trace_id, span.span_id, span.parent_span_id, "", span.name,
            _KINDS[span.kind] if 0 <= span.kind < len(_KINDS) else _KINDS[0], resource.get("service.name", ""),
            resource, span.scope_name, span.scope_version, self._strings(span.attributes), span.end_ns - span.start_ns,
            _STATUSES[span.status_code] if 0 <= span.status_code < len(_STATUSES) else _STATUSES[0],
            span.status_message,
        )

    def _strings(self, attributes) -> dict[str, str]:
        limit, size = self._settings.max_attributes, self._settings.max_attribute_bytes
        out = {}
        for key, value in attributes.items():
            if len(out) >= limit:
                break
            text = value if isinstance(value, str) else _text(value)
            if len(text) * 4 > size and len(encoded := text.encode()) > size:  # cheap test first: <= 4 B/char
                text = encoded[:size].decode("utf-8", "ignore")
            out[key] = text
        return out


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
