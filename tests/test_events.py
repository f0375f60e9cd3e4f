"""Flat events: the same LLM calls sent as NDJSON to POST /v1/events, imported from a JSONL file with
`otel-llmcost import`, and sent as OTLP spans give identical rows; bad lines get their own errors and every
good line is stored; a re-sent event is stored once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import FAST_CONFIG, Receiver, run_cli

EVENTS = [
    {"event_id": "e1", "time": "2026-11-02T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini",
     "input_tokens": 1200, "cache_read_tokens": 200, "output_tokens": 300, "latency_ms": 850.5, "tenant_id": "acme",
     "feature": "search", "user_id": "u1", "request_id": "r1", "service": "api", "environment": "prod"},
    {"event_id": "e2", "time": 1793613600.25, "provider": "anthropic", "model": "claude-sonnet-4-5",
     "input_tokens": 5000, "cache_write_tokens": 1000, "output_tokens": 800, "tenant_id": "globex",
     "feature": "chat", "request_id": "r2", "attempt": 2, "cost_usd": "0.0321", "metadata": {"plan": "pro"}},
    {"event_id": "e3", "time": "2026-11-02T10:05:00+01:00", "provider": "openai", "model": "gpt-4o",
     "input_tokens": 10, "status": "error", "error_type": "RateLimitError", "tenant_id": "acme", "request_id": "r3"},
    {"event_id": "e4", "time": "2026-11-02T11:00:00Z", "provider": "openai", "model": "text-embedding-3-small",
     "operation": "embeddings", "input_tokens": 4000, "tenant_id": "acme", "request_id": "r4"},
    {"event_id": "e5", "time": "2026-11-02T12:00:00Z", "provider": "openai", "model": "o3-mini",
     "input_tokens": 100, "output_tokens": 900, "reasoning_tokens": 700, "tenant_id": "initech", "request_id": "r5"},
]
BAD = {3: "{not json", 6: json.dumps({"event_id": "e9", "provider": "openai", "model": "x", "input_tokens": -1})}


def _file_lines() -> list[str]:
    """The good events with the bad lines at their line numbers (1-based)."""
    good = iter(json.dumps(event) for event in EVENTS)
    return [BAD[number] if number in BAD else next(good) for number in range(1, len(EVENTS) + len(BAD) + 1)]


def _otlp(events: list[dict]) -> ExportTraceServiceRequest:
    """The same calls as GenAI spans, written here independently of the receiver's event mapping."""
    from datetime import datetime

    request = ExportTraceServiceRequest()
    for index, event in enumerate(events):
        resource_spans = request.resource_spans.add()
        for key, name in (("service.name", "service"), ("deployment.environment.name", "environment")):
            if name in event:
                resource_spans.resource.attributes.add(key=key).value.string_value = event[name]
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "otel_llmcost.events"
        span = scope.spans.add(trace_id=bytes([index + 1]) * 16, span_id=bytes([index + 1]) * 8, kind=3)
        span.name = f"{event.get('operation', 'chat')} {event['model']}"
        moment = event["time"]
        if isinstance(moment, float):
            seconds = moment
        else:
            seconds = datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()
        span.start_time_unix_nano = round(seconds * 1e6) * 1000
        span.end_time_unix_nano = span.start_time_unix_nano + int(event.get("latency_ms", 0) * 1e6)
        if event.get("status") == "error":
            span.status.code = 2
        attributes = {
            "gen_ai.operation.name": event.get("operation", "chat"), "gen_ai.provider.name": event["provider"],
            "gen_ai.request.model": event["model"], "gen_ai.usage.input_tokens": event.get("input_tokens"),
            "gen_ai.usage.output_tokens": event.get("output_tokens"),
            "gen_ai.usage.cache_read.input_tokens": event.get("cache_read_tokens", 0),
            "gen_ai.usage.cache_write.input_tokens": event.get("cache_write_tokens"),
            "gen_ai.usage.reasoning.output_tokens": event.get("reasoning_tokens"),
            "error.type": event.get("error_type"), "tenant.id": event.get("tenant_id"),
            "feature.name": event.get("feature"), "user.id": event.get("user_id"),
            "request.id": event.get("request_id"), "llm.attempt": event.get("attempt"),
            "gen_ai.usage.cost.amount": event.get("cost_usd"),
            **{f"otel_llmcost.metadata.{k}": v for k, v in event.get("metadata", {}).items()},
        }
        for key, value in attributes.items():
            if value is None:
                continue
            target = span.attributes.add(key=key).value
            if isinstance(value, int):
                target.int_value = value
            else:
                target.string_value = value
    return request


def _rows(receiver: Receiver) -> list[dict]:
    return receiver.sql("SELECT * EXCEPT (trace_id, span_id, ingested_at) FROM llmcost.llm_usage"
                        " ORDER BY request_id FORMAT JSONEachRow")


def _wait_rows(receiver: Receiver, count: int) -> list[dict]:
    import time

    deadline = time.monotonic() + 60
    while len(rows := _rows(receiver)) < count and time.monotonic() < deadline:
        time.sleep(0.3)
    return rows


def _post(receiver: Receiver, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{receiver.http_port}/v1/events", data=body,
                                     headers={"Content-Type": "application/x-ndjson"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.fixture(scope="module")
def receivers(tmp_path_factory):
    root = tmp_path_factory.mktemp("events")
    started = [Receiver(root / name, FAST_CONFIG).start() for name in ("ndjson", "jsonl", "otlp")]
    yield started
    for receiver in started:
        receiver.kill()


def test_ndjson_jsonl_import_and_otlp_give_identical_rows(receivers, tmp_path):
    ndjson, jsonl, otlp = receivers
    body = ("\n".join(_file_lines()) + "\n").encode()
    status, answer = _post(ndjson, body)
    assert status == 200 and answer["accepted"] == 5 and answer["rejected"] == 2
    assert [error["line"] for error in answer["errors"]] == [3, 6]
    assert "not JSON" in answer["errors"][0]["error"] and "input_tokens" in answer["errors"][1]["error"]

    events_file = tmp_path / "calls.jsonl"
    events_file.write_bytes(body)
    result = run_cli("import", str(events_file), "--data-dir", str(jsonl.data_dir), "--batch-lines", "4",
                     check=False)
    assert result.returncode == 1, result.stderr  # bad lines: reported, the rest stored
    assert json.loads(result.stdout) == {"lines": 7, "stored": 5, "bad": 2}
    assert "line 3:" in result.stderr and "line 6:" in result.stderr

    with grpc.insecure_channel(f"127.0.0.1:{otlp.grpc_port}") as channel:
        channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")(
            _otlp(EVENTS).SerializeToString(), timeout=30)

    rows = [_wait_rows(receiver, 5) for receiver in receivers]
    assert len(rows[0]) == 5
    assert rows[0] == rows[1] == rows[2]
    by_request = {row["request_id"]: row for row in rows[0]}
    assert by_request["r2"]["emitter_cost_usd"] is not None and by_request["r2"]["metadata"] == {"plan": "pro"}
    assert by_request["r3"]["status"] == "error" and by_request["r2"]["attempt"] == 2


def test_a_resent_event_is_stored_once(receivers):
    ndjson = receivers[0]
    status, answer = _post(ndjson, (json.dumps(EVENTS[0]) + "\n").encode())
    assert status == 200 and answer["accepted"] == 1
    import time

    time.sleep(1.5)
    assert len(_rows(ndjson)) == 5


def test_a_body_of_bad_lines_only_is_a_400_with_every_reason(receivers):
    status, answer = _post(receivers[0], b'{"event_id": "x"}\n[]\n')
    assert status == 400 and answer["accepted"] == 0
    assert [(e["line"], e["error"]) for e in answer["errors"]] == [
        (1, "missing model, provider"), (2, "an event is a JSON object")]
