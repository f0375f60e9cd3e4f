"""OTLP/JSON -> ExportTraceServiceRequest.

OTLP/JSON is proto3 JSON with two deviations: trace and span ids are hex (not base64) and enums are
integers. We turn the hex ids into base64 and let protobuf's JSON parser do the rest (it accepts int64 as
strings or numbers, and we ask it to ignore unknown fields as the spec requires). An id that is not valid
hex is replaced by a wrong-length value, so decode_spans rejects that one span, not the whole request.
A span protobuf's parser refuses (a wrong type in one field) is dropped alone and named in the reasons.
"""

from __future__ import annotations

import base64
import binascii
import json

from google.protobuf.json_format import ParseDict, ParseError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PB2Span

from otel_llmcost.decode.tenant import strip_auth_tenant
from otel_llmcost.errors import DecodeError

_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_INVALID_ID = b"\x00"  # one byte: never a valid trace or span id
# What protobuf's JSON parser raises on bad input; RecursionError for nesting deeper than Python's stack.
_PARSE_ERRORS = (ParseError, ValueError, TypeError, RecursionError)


def parse_json(body: bytes) -> tuple[PB2ExportTraceServiceRequest, list[str]]:
    """Parse an OTLP/JSON trace export body into the request and the reasons for spans dropped from it
    (one per span); raise DecodeError when the body is not an export at all."""
    try:
        document = json.loads(body)
    # ValueError: also a number over Python's 4,300-digit limit; RecursionError: absurdly deep nesting.
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DecodeError(f"body is not valid JSON: {_first_line(exc)}") from exc
    if not isinstance(document, dict):
        raise DecodeError("body is not a JSON object")
    spans = [
        (scope_spans, span)
        for resource_spans in dicts(document.get("resourceSpans", document.get("resource_spans")))
        for scope_spans in dicts(resource_spans.get("scopeSpans", resource_spans.get("scope_spans")))
        for span in dicts(scope_spans.get("spans"))
    ]
    for _, span in spans:
        hex_ids_to_base64(span)
        for link in dicts(span.get("links")):
            hex_ids_to_base64(link)
    request = PB2ExportTraceServiceRequest()
    rejected: list[str] = []
    try:
        ParseDict(document, request, ignore_unknown_fields=True)
    except _PARSE_ERRORS:
        rejected = _drop_unparseable_spans(spans)
        request = PB2ExportTraceServiceRequest()
        try:
            ParseDict(document, request, ignore_unknown_fields=True)
        except _PARSE_ERRORS as exc:
            raise DecodeError(f"body is not an OTLP/JSON ExportTraceServiceRequest: {_first_line(exc)}") from exc
    strip_auth_tenant(request)
    return request, rejected


def _drop_unparseable_spans(spans: list[tuple[dict, dict]]) -> list[str]:
    """Parse each span alone; remove those that fail from their scope's list. Returns one reason each."""
    reasons = []
    for scope_spans, span in spans:
        try:
            ParseDict(span, PB2Span(), ignore_unknown_fields=True)
        except _PARSE_ERRORS as exc:
            scope_spans["spans"] = [kept for kept in scope_spans["spans"] if kept is not span]
            reasons.append(f"span {str(span.get('name', ''))[:100]!r}: {_first_line(exc)}")
    return reasons


def _first_line(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def dicts(value) -> list[dict]:
    """The objects of a JSON list (anything else in it, or a value that is not a list, is skipped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def hex_ids_to_base64(obj: dict) -> None:
    """OTLP/JSON's hex trace and span ids in `obj` as proto3 JSON's base64, in place."""
    for key in _ID_KEYS:
        value = obj.get(key)
        if value is None:
            continue
        if value == "":
            del obj[key]  # JSON's way of saying "absent" (e.g. a root span's parentSpanId)
            continue
        try:
            raw = bytes.fromhex(value) if isinstance(value, str) else _INVALID_ID
        except (ValueError, binascii.Error):
            raw = _INVALID_ID
        obj[key] = base64.b64encode(raw).decode("ascii")
