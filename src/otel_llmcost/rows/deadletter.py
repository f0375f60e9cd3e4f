"""Dead letter: a call that cannot be stored as sent is kept in llmcost.rejected_calls, with the reason and
the span or row as received, instead of being lost or blocking the calls stored beside it."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from typing import Sequence

from otel_llmcost.model import SpanRecord, UsageRow

TABLE = "rejected_calls"
#: llmcost.rejected_calls (clickhouse/migrations/005_rejected_calls.sql), in its column order.
COLUMNS = (
    ("ts", "DateTime64(3, 'UTC')"), ("trace_id", "String"), ("span_id", "String"),
    ("tenant_id", "LowCardinality(String)"), ("reason", "String"), ("span", "String"),
)
_MAX_REASON_CHARS = 4096


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


def to_columns(rejected: Sequence[RejectedCall]) -> list[list]:
    return [[getattr(call, field.name) for call in rejected] for field in dataclasses.fields(RejectedCall)]


def _rejected(trace_id: str, span_id: str, tenant_id: str, reason: str, document: dict) -> RejectedCall:
    try:
        text = json.dumps(document, default=str, ensure_ascii=True)
    except (ValueError, RecursionError):  # a circular or absurdly deep value: its text form still says enough
        text = json.dumps({"repr": repr(document)[:1_000_000]})
    return RejectedCall(datetime.now(timezone.utc), _utf8(trace_id), _utf8(span_id), _utf8(tenant_id)[:1024],
                        _utf8(reason)[:_MAX_REASON_CHARS], text)


def _utf8(value) -> str:
    """Text that encodes as UTF-8 whatever it held (a lone surrogate from a JSON escape does not)."""
    return str(value).encode("utf-8", "replace").decode("utf-8")
