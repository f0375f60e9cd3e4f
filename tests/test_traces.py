"""Request traces through a real receiver: the whole trace of an LLM request lands in otel_traces."""

from __future__ import annotations

import json
import os
import time

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otel_llmcost.config import TracesSettings
from otel_llmcost.keys import USES, KeyStore
from otel_llmcost.model import SpanRecord
from otel_llmcost.rows.traces import COLUMN_TYPES, TENANT_ATTRIBUTE, TraceKeeper
from payloads import attribute, llm_span, post, request

# The trace view's query, as clickhouse-and-grafana.md §2.4 and the Collector's README give it.
TRACE_VIEW = """
WITH '{trace_id}' AS trace_id,
     (SELECT min(Start) FROM llmcost.otel_traces_trace_id_ts WHERE TraceId = trace_id) AS start,
     (SELECT max(End) + 1 FROM llmcost.otel_traces_trace_id_ts WHERE TraceId = trace_id) AS end
SELECT TraceId AS traceID, SpanId AS spanID, ParentSpanId AS parentSpanID, ServiceName AS serviceName,
       SpanName AS operationName, Duration / 1000000 AS duration, SpanKind AS kind,
       arrayMap(key -> map('key', key, 'value', SpanAttributes[key]), mapKeys(SpanAttributes)) AS tags,
       if(StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 2, 0) AS statusCode
FROM llmcost.otel_traces
WHERE TraceId = trace_id AND Timestamp >= start AND Timestamp <= end
ORDER BY Timestamp
"""


def _app_span(trace_id: bytes, span_id: bytes, name: str, parent: bytes = b"", **attributes) -> Span:
    now = time.time_ns()
    return Span(trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name, kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=now - 200_000_000, end_time_unix_nano=now,
                attributes=[attribute(k, v) for k, v in attributes.items()],
                status=Status(code=Status.STATUS_CODE_ERROR, message="boom"))


def _wait_for(receiver, sql: str, count: int) -> list[dict]:
    for _ in range(100):
        rows = receiver.sql(sql)
        if len(rows) >= count:
            return rows
        time.sleep(0.2)
    raise AssertionError(f"expected {count} rows from {sql}, got {rows}")


def test_the_whole_trace_of_an_llm_request_is_stored_and_other_traces_are_not(receiver_factory):
    receiver = receiver_factory({"traces": {"keep": "llm", "max_attribute_bytes": 32}})
    llm_trace, root = os.urandom(16), os.urandom(8)
    spans = [
        _app_span(llm_trace, root, "POST /answer", **{"tenant.id": "acme", "http.route": "/answer",
                                                      "app.prompt": "x" * 100, TENANT_ATTRIBUTE: "globex"}),
        llm_span(llm_trace, "gpt-4o-mini", 100, 10, parent=root),
        _app_span(llm_trace, os.urandom(8), "tool search", parent=root, **{"tool.name": "search"}),
    ]
    plain_trace = os.urandom(16)
    body = request(*spans, _app_span(plain_trace, os.urandom(8), "GET /health"), service="shop")
    all_kept = receiver_factory({"traces": {"keep": "all"}})
    assert post(all_kept.http_url, body.SerializeToString(), "application/x-protobuf")[0] == 200
    assert post(receiver.http_url, body.SerializeToString(), "application/x-protobuf")[0] == 200
    _wait_for(receiver, "SELECT span_id FROM llmcost.llm_usage", 1)
    view = _wait_for(receiver, TRACE_VIEW.format(trace_id=llm_trace.hex()), 3)
    receiver.stop()

    assert {row["operationName"] for row in view} == {"POST /answer", "chat gpt-4o-mini", "tool search"}
    assert {row["serviceName"] for row in view} == {"shop"}
    by_name = {row["operationName"]: row for row in view}
    app = by_name["POST /answer"]
    tags = {tag["key"]: tag["value"] for tag in app["tags"]}
    assert tags["tenant.id"] == "acme" and tags["http.route"] == "/answer"  # attributes no stage reads, too
    # every span carries the tenant its trace's calls are charged to; the client's own value is overwritten
    assert {tag["value"] for row in view for tag in row["tags"] if tag["key"] == TENANT_ATTRIBUTE} == {"acme"}
    assert tags["app.prompt"] == "x" * 32  # cut to traces.max_attribute_bytes
    assert (app["statusCode"], app["kind"], app["duration"]) == (2, "Server", 200)
    assert by_name["chat gpt-4o-mini"]["parentSpanID"] == root.hex()
    assert receiver.sql(f"SELECT count() AS n FROM llmcost.otel_traces WHERE TraceId = '{plain_trace.hex()}'") == [
        {"n": 0}]
    tenants = f"SELECT TraceId, SpanAttributes['{TENANT_ATTRIBUTE}'] AS tenant FROM llmcost.otel_traces"
    by_trace = {row["TraceId"]: row["tenant"] for row in _wait_for(all_kept, tenants, 4)}
    all_kept.stop()
    assert by_trace == {llm_trace.hex(): "acme", plain_trace.hex(): ""}  # a trace without calls: no tenant


def test_keep_all_and_none_and_attribute_limits():
    span = SpanRecord("a" * 32, "b" * 16, "", "work", 1, 10, 25, 0, "", {"n": 3, "ok": True, "list": [1, "é"],
                                                                           "long": "é" * 40},
                      {"service.name": "svc"}, "scope", "1.0")
    keeper = TraceKeeper(TracesSettings(keep="all", max_attributes=3, max_attribute_bytes=16))
    row = keeper.columns([(span, "acme")]).row(0)
    values = dict(zip((name for name, _ in COLUMN_TYPES), row, strict=True))
    assert values["SpanAttributes"] == {"n": "3", "ok": "true", "list": json.dumps([1, "é"], ensure_ascii=False),
                                        TENANT_ATTRIBUTE: "acme"}
    assert (values["Duration"], values["SpanKind"], values["StatusCode"], values["ServiceName"]) == (
        15, "Internal", "Unset", "svc")
    cut = TraceKeeper(TracesSettings(max_attribute_bytes=16)).columns([(span, "")]).columns[11][0]["long"]
    assert cut == "é" * 8 and len(cut.encode()) == 16  # never half a character
    assert TraceKeeper(TracesSettings(keep="none")).wanted.prefixes == ()


def test_a_late_call_sent_with_another_tenants_key_does_not_give_it_the_earlier_spans(receiver_factory, tmp_path):
    """acme's root of a trace is written without a call (nothing kept); a call in the same trace comes later
    with globex's key. The trace is now kept whole, the earlier root too: not as globex's to read."""
    data_dir = tmp_path / "keyed"
    keys = KeyStore(data_dir / "keys.json")
    secrets = {tenant: keys.create(tenant, USES)[1] for tenant in ("acme", "globex")}
    receiver = receiver_factory(data_dir=data_dir)
    trace_id, root_id = os.urandom(16), os.urandom(8)
    root = _app_span(trace_id, root_id, "POST /answer")
    call = llm_span(trace_id, "gpt-4o-mini", 100, 10, parent=root_id)
    for span, tenant in ((root, "acme"), (call, "globex")):
        assert post(receiver.http_url, request(span).SerializeToString(), "application/x-protobuf",
                    headers={"Authorization": f"Bearer {secrets[tenant]}"})[0] == 200
        time.sleep(1.0)  # five flush intervals: the root is written before the call comes
    tenants = f"SELECT SpanName, SpanAttributes['{TENANT_ATTRIBUTE}'] AS tenant FROM llmcost.otel_traces"
    stored = _wait_for(receiver, tenants, 2)
    receiver.stop()
    assert sorted((row["SpanName"], row["tenant"]) for row in stored) == [
        ("POST /answer", ""), ("chat gpt-4o-mini", "globex")]
