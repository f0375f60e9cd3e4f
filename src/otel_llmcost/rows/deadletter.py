"""Dead letter: a call that cannot be stored as sent is kept in llmcost.rejected_calls, with the reason and
the span or row as received, instead of being lost or blocking the calls stored beside it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime, timezone

from otel_llmcost.model import SpanRecord, UsageRow
from otel_llmcost.rows import traces
from otel_llmcost.rows.columncheck import ColumnChecks, Findings

TABLE = "rejected_calls"
#: llmcost.rejected_calls (clickhouse/migrations/005_rejected_calls.sql), in its column order.
COLUMNS = (
    ("ts", "DateTime64(3, 'UTC')"), ("trace_id", "String"), ("span_id", "String"),
    ("tenant_id", "LowCardinality(String)"), ("reason", "String"), ("span", "String"),
)
_MAX_REASON_CHARS = 4096
_MAX_DOCUMENT_CHARS = 16 * 1024 * 1024  # the span or row as received: whole, up to the largest export
_CHECKS = ColumnChecks(COLUMNS, text_limits={"reason": _MAX_REASON_CHARS, "span": _MAX_DOCUMENT_CHARS})


@dataclasses.dataclass(slots=True)
class RejectedCall:
    """One row of rejected_calls (COLUMNS order)."""

    ts: datetime  # when it was rejected
    trace_id: str
    span_id: str
    tenant_id: str  # best effort: the row's, when the call got that far
    reason: str
    span: str  # JSON of the span (a trace that could not be priced) or the row (a value no column holds)


if tuple(field.name for field in dataclasses.fields(RejectedCall)) != tuple(name for name, _ in COLUMNS):
    raise RuntimeError("deadletter.RejectedCall and deadletter.COLUMNS disagree; keep them in one order")


def of_row(row: UsageRow, reason: str) -> RejectedCall:
    document = {field.name: getattr(row, field.name) for field in dataclasses.fields(row)}
    return _rejected(row.trace_id, row.span_id, str(row.tenant_id), reason, document)


def of_span(span: SpanRecord, reason: str) -> RejectedCall:
    document = {field.name: getattr(span, field.name) for field in dataclasses.fields(span)}
    return _rejected(span.trace_id, span.span_id, "", reason, document)


def of_trace_span(row: Sequence, reason: str) -> RejectedCall:
    """A span otel_traces refused (its row in rows/traces.py COLUMN_TYPES order)."""
    document = dict(zip((name for name, _ in traces.COLUMN_TYPES), row, strict=True))
    tenant = document.get("SpanAttributes", {}).get(traces.TENANT_ATTRIBUTE, "")
    return _rejected(document["TraceId"], document["SpanId"], tenant, reason, document)


def to_columns(rejected: Sequence[RejectedCall]) -> list[list]:
    """A columnar batch in COLUMNS order, each value checked against its column like every table's."""
    rows = [_CHECKS.check([getattr(call, name) for name, _ in COLUMNS], Findings()) for call in rejected]
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in COLUMNS]


def _rejected(trace_id: str, span_id: str, tenant_id: str, reason: str, document: dict) -> RejectedCall:
    try:
        text = json.dumps(document, default=str, ensure_ascii=True)
    except (ValueError, RecursionError):  # a circular or absurdly deep value: its text form still says enough
        text = json.dumps({"repr": repr(document)[:1_000_000]})
    # lengths and characters are made storable by to_columns
    return RejectedCall(datetime.now(timezone.utc), str(trace_id), str(span_id), str(tenant_id), str(reason), text)
