"""Hand-built OTLP trace export requests, for tests that need exact control of the wire bytes."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status


def attribute(key: str, value) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def llm_span(trace_id: bytes, model: str, input_tokens, output_tokens, parent: bytes = b"", **extra) -> Span:
    now = time.time_ns()
    attributes = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens, **extra,
    }
    return Span(
        trace_id=trace_id, span_id=os.urandom(8), parent_span_id=parent, name=f"chat {model}",
        kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=now - 50_000_000, end_time_unix_nano=now,
        attributes=[attribute(k, v) for k, v in attributes.items()], status=Status(code=Status.STATUS_CODE_UNSET),
    )


def request(*spans: Span, service: str = "test-service", **resource) -> ExportTraceServiceRequest:
    resource_attributes = [attribute("service.name", service)] + [attribute(k, v) for k, v in resource.items()]
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource={"attributes": resource_attributes},
        scope_spans=[ScopeSpans(scope={"name": "payloads", "version": "1"}, spans=list(spans))],
    )])


def to_otlp_json(message: ExportTraceServiceRequest) -> dict:
    """OTLP/JSON as the spec wants it: hex ids (protobuf's JSON mapping would give base64)."""
    document = json_format.MessageToDict(message)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _b64_to_hex(span[key])
    return document


def _b64_to_hex(value: str) -> str:
    import base64

    return base64.b64decode(value).hex()


def post(url: str, body: bytes, content_type: str, encoding: str | None = None, headers: dict | None = None):
    """POST and return (status, content type, body), never raising on HTTP errors."""
    headers = {"Content-Type": content_type, **(headers or {})}
    if encoding:
        headers["Content-Encoding"] = encoding
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()


def json_body(document: dict) -> bytes:
    return json.dumps(document).encode()
