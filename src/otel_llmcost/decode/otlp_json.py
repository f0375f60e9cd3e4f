"""OTLP/JSON -> ExportTraceServiceRequest.

OTLP/JSON is proto3 JSON with two deviations: trace and span ids are hex (not base64) and enums are
integers. We turn the hex ids into base64 and let protobuf's JSON parser do the rest (it accepts int64 as
strings or numbers, and we ask it to ignore unknown fields as the spec requires). An id that is not valid
hex is replaced by a wrong-length value, so decode_spans rejects that one span, not the whole request.
"""

from __future__ import annotations

import base64
import binascii
import json

from google.protobuf.json_format import ParseDict, ParseError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)

from otel_llmcost.errors import DecodeError

_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_INVALID_ID = b"\x00"  # one byte: never a valid trace or span id


def parse_json(body: bytes) -> PB2ExportTraceServiceRequest:
    """Parse an OTLP/JSON trace export body; raise DecodeError when it is not one."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise DecodeError("body is not a JSON object")
    for resource_spans in _dicts(document.get("resourceSpans", document.get("resource_spans"))):
        for scope_spans in _dicts(resource_spans.get("scopeSpans", resource_spans.get("scope_spans"))):
            for span in _dicts(scope_spans.get("spans")):
                _hex_ids_to_base64(span)
                for link in _dicts(span.get("links")):
                    _hex_ids_to_base64(link)
    request = PB2ExportTraceServiceRequest()
    try:
        ParseDict(document, request, ignore_unknown_fields=True)
    except (ParseError, ValueError, TypeError) as exc:
        raise DecodeError(f"body is not an OTLP/JSON ExportTraceServiceRequest: {exc}") from exc
    return request


def _dicts(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _hex_ids_to_base64(obj: dict) -> None:
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
