"""Flat events (NDJSON, one LLM call per line) to an OTLP trace export: each event becomes one root span with
the GenAI semantic-convention attributes, so events are validated, priced, deduplicated and stored by the
same pipeline as spans, under the same keys. The span's ids derive from the event id: a re-sent event has
the ids it had, and is stored once.

The fields and their types are those of events.schema.json (shipped with the package); a line that does
not fit gets its own error and the other lines go on.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from importlib.resources import files

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SCHEMA = json.loads(files("otel_llmcost.decode").joinpath("events.schema.json").read_text(encoding="utf-8"))
_PROPERTIES, _REQUIRED = SCHEMA["properties"], frozenset(SCHEMA["required"])
_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "object": (dict,)}
#: event field -> span attribute
_ATTRIBUTES = {
    "provider": "gen_ai.provider.name", "model": "gen_ai.request.model", "response_model": "gen_ai.response.model",
    "response_id": "gen_ai.response.id", "operation": "gen_ai.operation.name",
    "input_tokens": "gen_ai.usage.input_tokens", "output_tokens": "gen_ai.usage.output_tokens",
    "cache_read_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_write_tokens": "gen_ai.usage.cache_write.input_tokens",
    "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens", "error_type": "error.type",
    "tenant_id": "tenant.id", "feature": "feature.name", "user_id": "user.id", "session_id": "session.id",
    "request_id": "request.id", "attempt": "llm.attempt", "cost_usd": "gen_ai.usage.cost.amount",
}
_RESOURCE = {"service": "service.name", "environment": "deployment.environment.name"}
SCOPE = "otel_llmcost.events"


class EventError(ValueError):
    """A line that is not a valid event."""


@dataclass(slots=True)
class ParsedEvents:
    request: ExportTraceServiceRequest = field(default_factory=ExportTraceServiceRequest)
    count: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number from 1, reason)


def parse_ndjson(body: bytes, first_line: int = 1) -> ParsedEvents:
    """Every line of `body` as a span of one request; blank lines are skipped, bad ones reported by number."""
    parsed = ParsedEvents()
    for number, line in enumerate(body.splitlines(), first_line):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            _check(event)
            _add_span(parsed.request, event)
            parsed.count += 1
        except (EventError, ValueError, RecursionError) as exc:
            parsed.errors.append((number, str(exc) if isinstance(exc, EventError) else f"not JSON: {exc}"))
    return parsed


def _check(event) -> None:
    if not isinstance(event, dict):
        raise EventError("an event is a JSON object")
    if missing := sorted(_REQUIRED - event.keys()):
        raise EventError(f"missing {', '.join(missing)}")
    for name, value in event.items():
        spec = _PROPERTIES.get(name)
        if spec is None:
            raise EventError(f"unknown field {name!r}")
        kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        if isinstance(value, bool) or not isinstance(value, tuple(t for k in kinds for t in _TYPES[k])):
            raise EventError(f"{name} must be {' or '.join(kinds)}, got {json.dumps(value)[:80]}")
        if "minimum" in spec and value < spec["minimum"]:
            raise EventError(f"{name} must be at least {spec['minimum']}")
        if "enum" in spec and value not in spec["enum"]:
            raise EventError(f"{name} must be one of {', '.join(spec['enum'])}")
        if spec.get("minLength") and not value:
            raise EventError(f"{name} must not be empty")
        if len(str(value)) > spec.get("maxLength", 1 << 20):
            raise EventError(f"{name} is longer than {spec['maxLength']} characters")
    if name_errors := [k for k, v in event.get("metadata", {}).items() if not isinstance(v, str)]:
        raise EventError(f"metadata values must be strings: {', '.join(name_errors)}")


def _add_span(request: ExportTraceServiceRequest, event: dict) -> None:
    start = _start_ns(event.get("time"))  # the one check that can still fail: before anything is added
    resource_spans = request.resource_spans.add()
    for name, key in _RESOURCE.items():
        if name in event:
            resource_spans.resource.attributes.add(key=key).value.string_value = event[name]
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = SCOPE
    span = scope_spans.spans.add()
    digest = hashlib.sha256(f"otel-llmcost event {event['event_id']}".encode()).digest()
    span.trace_id, span.span_id = digest[:16], digest[16:24]
    span.name = f"{event.get('operation', 'chat')} {event['model']}"
    span.kind = Span.SPAN_KIND_CLIENT  # 3
    span.start_time_unix_nano = start
    span.end_time_unix_nano = span.start_time_unix_nano + int(event.get("latency_ms", 0) * 1_000_000)
    if event.get("status") == "error":
        span.status.code = Status.STATUS_CODE_ERROR  # 2
    values = {"operation": "chat", "cache_read_tokens": 0, **event}  # cache_read set: input includes the cache
    for name, key in _ATTRIBUTES.items():
        if name in values:
            _set(span.attributes.add(key=key).value, values[name])
    for name, value in event.get("metadata", {}).items():
        span.attributes.add(key=f"otel_llmcost.metadata.{name}").value.string_value = value


def _set(any_value, value) -> None:
    if isinstance(value, int):
        any_value.int_value = value
    elif isinstance(value, float):
        any_value.double_value = value
    else:
        any_value.string_value = str(value)


def _start_ns(moment) -> int:
    if moment is None:
        return time.time_ns()
    if isinstance(moment, (int, float)):
        return int(Decimal(repr(moment)) * 1_000_000_000)  # the digits written, not the float's binary value
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError as exc:
        raise EventError(f"time must be ISO 8601 or Unix seconds, got {moment!r}") from exc
    if parsed.tzinfo is None:
        raise EventError(f"time needs a time zone (e.g. Z), got {moment!r}")
    return int(parsed.timestamp()) * 1_000_000_000 + parsed.microsecond * 1000
