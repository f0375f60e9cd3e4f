"""ExportTraceServiceRequest (protobuf) -> SpanRecord.

Only attributes later stages read are decoded (AttributeFilter): a span typically carries dozens of
attributes (prompts, HTTP details) we never use, and skipping their values is most of the hot-path budget.
A span with unusable ids is rejected on its own; its neighbours are kept.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError as PB2DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue as PB2AnyValue

from otel_llmcost.decode.tenant import AUTH_TENANT_BYTES, strip_auth_tenant
from otel_llmcost.errors import DecodeError
from otel_llmcost.model import SpanRecord

_MAX_REJECT_REASONS = 5


@dataclass(frozen=True, slots=True)
class AttributeFilter:
    """Which attribute keys to decode: exact keys plus key prefixes. `documents` (also among the keys, so they
    are decoded) are whole documents, such as a provider's response as JSON, kept only as the few attributes
    `summarise` reads from them, unless a prefix asks for them whole."""

    keys: frozenset[str]
    prefixes: tuple[str, ...] = ()
    documents: frozenset[str] = frozenset()
    summarise: Callable[[Any], Mapping[str, Any]] | None = None

    def union(self, other: AttributeFilter) -> AttributeFilter:
        return AttributeFilter(self.keys | other.keys, tuple(sorted(set(self.prefixes) | set(other.prefixes))),
                               self.documents | other.documents, self.summarise or other.summarise)


@dataclass(slots=True)
class DecodedSpans:
    spans: list[SpanRecord] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < _MAX_REJECT_REASONS:
            self.reasons.append(reason)


def parse_protobuf(body: bytes) -> PB2ExportTraceServiceRequest:
    """Parse a binary OTLP trace export body, without any attribute clients may not set; raise DecodeError
    when it is not one."""
    request = PB2ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except PB2DecodeError as exc:
        raise DecodeError(f"body is not a protobuf ExportTraceServiceRequest: {exc}") from exc
    if AUTH_TENANT_BYTES in body:  # a byte search is far cheaper than walking every attribute
        strip_auth_tenant(request)
    return request


def trace_ids(request: PB2ExportTraceServiceRequest) -> set[str]:
    """The trace ids of the request's spans (as decode_spans writes them), read without decoding the spans."""
    return {span.trace_id.hex() for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans for span in scope_spans.spans}


def decode_spans(request: PB2ExportTraceServiceRequest, wanted: AttributeFilter) -> DecodedSpans:
    """Decode every span of the request; spans with invalid ids are counted as rejected."""
    out = DecodedSpans()
    append = out.spans.append
    decode = _decoder(wanted)
    for resource_spans in request.resource_spans:
        resource = decode(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            scope_version = scope_spans.scope.version
            for span in scope_spans.spans:
                trace_id, span_id, parent_id = span.trace_id, span.span_id, span.parent_span_id
                start_ns, end_ns = span.start_time_unix_nano, span.end_time_unix_nano
                # One test for the spans that are right (nearly all), then the reason for those that are not.
                if not (len(trace_id) == 16 and len(span_id) == 8 and (not parent_id or len(parent_id) == 8)
                        and start_ns and end_ns >= start_ns and any(trace_id) and any(span_id)):
                    out.reject(_rejection(span))
                    continue
                status = span.status
                append(SpanRecord(  # positional, in field order: keywords cost more on every span
                    trace_id.hex(), span_id.hex(), parent_id.hex(), span.name, span.kind, start_ns, end_ns,
                    status.code, status.message, decode(span.attributes), resource, scope_name, scope_version,
                ))
    return out


def _rejection(span) -> str:
    """Why decode_spans refuses the span."""
    trace_id, span_id = span.trace_id, span.span_id
    if len(trace_id) != 16 or not any(trace_id):
        return f"span {span.name!r}: trace_id must be 16 non-zero bytes, got {len(trace_id)}"
    if len(span_id) != 8 or not any(span_id):
        return f"span {span.name!r}: span_id must be 8 non-zero bytes, got {len(span_id)}"
    if len(span.parent_span_id) not in (0, 8):
        return f"span {span.name!r}: parent_span_id must be empty or 8 bytes"
    return f"span {span.name!r}: start/end time missing or end before start"


def _decoder(wanted: AttributeFilter) -> Callable[[Any], dict]:
    """The attribute decoder of this filter. It runs once per attribute of every span: the filter and the
    scalar case are inlined, and a filter that keeps every key (traces stored) skips the key test."""
    keys, prefixes, documents = wanted.keys, wanted.prefixes, wanted.documents
    scalars = _SCALARS

    def every_key(key_values) -> dict:
        decoded = {}
        for kv in key_values:
            value = kv.value
            kind = value.WhichOneof("value")
            decoded[kv.key] = getattr(value, kind) if kind in scalars else _decode_value(value)
        if documents and not decoded.keys().isdisjoint(documents):  # walks the few documents' names
            summarise_documents(decoded, wanted)
        return decoded

    def some_keys(key_values) -> dict:
        decoded = {}
        for kv in key_values:
            key = kv.key
            if key in keys or key.startswith(prefixes):
                value = kv.value
                kind = value.WhichOneof("value")
                decoded[key] = getattr(value, kind) if kind in scalars else _decode_value(value)
        if documents and not decoded.keys().isdisjoint(documents):
            summarise_documents(decoded, wanted)
        return decoded

    return every_key if "" in prefixes else some_keys


def summarise_documents(decoded: dict, wanted: AttributeFilter) -> None:
    """Each document becomes what `summarise` reads from it; an attribute of the span's own wins over those."""
    for key in wanted.documents & decoded.keys():
        document = decoded[key] if key.startswith(wanted.prefixes) else decoded.pop(key)
        if wanted.summarise is not None:
            for name, value in wanted.summarise(document).items():
                decoded.setdefault(name, value)


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def _decode_value(value: PB2AnyValue):
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [_decode_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _decode_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        # Keep it JSON-friendly for the spool; no GenAI attribute we read is bytes.
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None
