"""OTLP requests for the forward queue: an export split into the spans that leave now and the LLM call spans
that wait for their price, and those spans again with their cost as attributes.

The cost goes under the proposed GenAI names (semantic-conventions-genai PR #443): gen_ai.usage.cost.amount
(a double, USD), .currency and .source = "local". When the client already sent gen_ai.usage.cost.amount,
its value is kept and ours goes under otel_llmcost.cost.*. Either way the exact amounts (decimal strings,
as stored) and the rest of what the row says go under otel_llmcost.*.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans as PB2ResourceSpans
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans as PB2ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PB2Span

from otel_llmcost.model import UsageRow

COST_AMOUNT, COST_CURRENCY = "gen_ai.usage.cost.amount", "gen_ai.usage.cost.currency"
COST_SOURCE = "gen_ai.usage.cost.source"
PREFIX = "otel_llmcost."
#: The row's amounts by kind: every UsageRow field priced per kind (its name without the suffix).
COST_KINDS = tuple(
    f.name for f in dataclasses.fields(UsageRow)
    if f.name.endswith(("_cost_usd", "_fee_usd")) and f.name not in ("cost_usd", "emitter_cost_usd")
)
#: Row fields copied as they are: who the call is charged to, and which price applied.
ROW_FIELDS = ("tenant_id", "feature", "request_id", "attempt", "price_id", "price_book_version", "price_tier")

SpanKey = tuple[str, str]  # (trace id, span id), lower-case hex as decode/ writes them


@dataclass(slots=True)
class Held:
    """One LLM call span waiting for its price, with the resource and scope it came under."""

    segment: int  # of the forward queue, which it pins until settled
    resource_spans: PB2ResourceSpans
    scope_spans: PB2ScopeSpans
    span: PB2Span


@dataclass(slots=True)
class Split:
    now: PB2ExportTraceServiceRequest | None  # spans to send as they are
    now_count: int
    held: PB2ExportTraceServiceRequest | None  # LLM call spans to price first
    held_keys: list[SpanKey]


def split(request: PB2ExportTraceServiceRequest, fresh: set[SpanKey], calls: set[SpanKey]) -> Split:
    """The request's `fresh` spans (new to the receiver), LLM calls (`calls`) apart from the rest."""
    now, held = PB2ExportTraceServiceRequest(), PB2ExportTraceServiceRequest()
    now_count, held_keys = 0, []
    for resource_spans in request.resource_spans:
        resources: dict[bool, PB2ResourceSpans] = {}
        for scope_spans in resource_spans.scope_spans:
            targets: dict[bool, PB2ScopeSpans] = {}
            for span in scope_spans.spans:
                key = (span.trace_id.hex(), span.span_id.hex())
                if key not in fresh:
                    continue
                is_call = key in calls
                target = targets.get(is_call)
                if target is None:
                    resource = resources.get(is_call)
                    if resource is None:
                        resource = resources[is_call] = _resource_of(held if is_call else now, resource_spans)
                    target = targets[is_call] = _scope_of(resource, scope_spans)
                target.spans.append(span)
                if is_call:
                    held_keys.append(key)
                else:
                    now_count += 1
    return Split(now if now_count else None, now_count, held if held_keys else None, held_keys)


def held_spans(request: PB2ExportTraceServiceRequest, segment: int) -> Iterable[tuple[SpanKey, Held]]:
    """The spans of a HOLD request (as split() made it, or read back from the queue)."""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield (span.trace_id.hex(), span.span_id.hex()), Held(segment, resource_spans, scope_spans, span)


def span_keys(request: PB2ExportTraceServiceRequest) -> Iterable[SpanKey]:
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield span.trace_id.hex(), span.span_id.hex()


def regroup(held: Sequence[Held]) -> tuple[PB2ExportTraceServiceRequest, list[PB2Span]]:
    """The held spans as one request, under their resources and scopes; and their copies in it, in order."""
    out = PB2ExportTraceServiceRequest()
    resources: dict[int, PB2ResourceSpans] = {}
    scopes: dict[int, PB2ScopeSpans] = {}
    copies = []
    for item in held:
        resource = resources.get(id(item.resource_spans))
        if resource is None:
            resource = resources[id(item.resource_spans)] = _resource_of(out, item.resource_spans)
        scope = scopes.get(id(item.scope_spans))
        if scope is None:
            scope = scopes[id(item.scope_spans)] = _scope_of(resource, item.scope_spans)
        span = scope.spans.add()
        span.CopyFrom(item.span)
        copies.append(span)
    return out, copies


def priced(held: Sequence[Held], outcomes: Mapping[str, UsageRow | str]) -> PB2ExportTraceServiceRequest:
    """The held spans as a request, each with the cost of its row (by span id), or the reason it has none."""
    out, copies = regroup(held)
    for span in copies:
        outcome = outcomes.get(span.span_id.hex(), "no usage row was made for this span")
        if isinstance(outcome, str):
            _set(span, {f"{PREFIX}cost.status": "unpriced", f"{PREFIX}cost.note": outcome})
        else:
            _set(span, cost_attributes(outcome, client_sent=any(kv.key == COST_AMOUNT for kv in span.attributes)))
    return out


def cost_attributes(row: UsageRow, client_sent: bool) -> dict[str, str | int | float]:
    """What a priced call's span gains. `client_sent`: the span already has gen_ai.usage.cost.amount."""
    attributes: dict[str, str | int | float] = {}
    if row.cost_usd is not None:
        standard = f"{PREFIX}cost." if client_sent else "gen_ai.usage.cost."
        attributes.update({f"{standard}amount": float(row.cost_usd), f"{standard}currency": "USD",
                           f"{standard}source": "local", f"{PREFIX}cost_usd": _exact(row.cost_usd)})
    for kind in COST_KINDS:
        amount = getattr(row, kind)
        if amount is not None:
            attributes[f"{PREFIX}cost.{kind.removesuffix('_usd')}"] = _exact(amount)
    attributes[f"{PREFIX}cost.status"] = row.cost_status
    if row.cost_note:
        attributes[f"{PREFIX}cost.note"] = row.cost_note
    for name in ROW_FIELDS:
        value = getattr(row, name)
        if value not in ("", None):
            attributes[f"{PREFIX}{name}"] = value
    return attributes


def _exact(amount: Decimal) -> str:
    return format(amount, "f")


def _set(span: PB2Span, attributes: Mapping[str, str | int | float]) -> None:
    for key, value in attributes.items():
        any_value = span.attributes.add(key=key).value
        if isinstance(value, float):
            any_value.double_value = value
        elif isinstance(value, int):
            any_value.int_value = value
        else:
            any_value.string_value = value


def split_by_size(request: PB2ExportTraceServiceRequest, max_bytes: int
                  ) -> list[tuple[PB2ExportTraceServiceRequest, int]]:
    """The request cut into requests of about `max_bytes` at most (a span larger than that goes alone), each
    with its span count: a destination takes exports of a bounded size (gRPC's default is 4 MiB)."""
    parts: list[tuple[PB2ExportTraceServiceRequest, int]] = []
    out, count, size = PB2ExportTraceServiceRequest(), 0, 0
    for resource_spans in request.resource_spans:
        resource = None
        for scope_spans in resource_spans.scope_spans:
            scope = None
            for span in scope_spans.spans:
                span_size = span.ByteSize() + 16
                if count and size + span_size > max_bytes:
                    parts.append((out, count))
                    out, count, size, resource, scope = PB2ExportTraceServiceRequest(), 0, 0, None, None
                if resource is None:
                    resource = _resource_of(out, resource_spans)
                    size += resource.resource.ByteSize() + 16
                if scope is None:
                    scope = _scope_of(resource, scope_spans)
                    size += scope.scope.ByteSize() + 16
                scope.spans.append(span)
                count, size = count + 1, size + span_size
    if count:
        parts.append((out, count))
    return parts


def _resource_of(out: PB2ExportTraceServiceRequest, source: PB2ResourceSpans) -> PB2ResourceSpans:
    resource = out.resource_spans.add()
    resource.resource.CopyFrom(source.resource)
    resource.schema_url = source.schema_url
    return resource


def _scope_of(resource: PB2ResourceSpans, source: PB2ScopeSpans) -> PB2ScopeSpans:
    scope = resource.scope_spans.add()
    scope.scope.CopyFrom(source.scope)
    scope.schema_url = source.schema_url
    return scope
