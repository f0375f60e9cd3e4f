"""Attribution waits for ancestors that arrive late, and does not wait for parents that never come."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import run_cli
from otel_llmcost.ingest.tracebuffer import TraceBuffer
from otel_llmcost.model import SpanRecord
from payloads import llm_span, post, request
from scenario import llm_span_attributes


def test_app_span_ending_long_after_the_llm_call_still_attributes_it(receiver_factory):
    receiver = receiver_factory({"attribution": {"trace_wait_seconds": 0.5, "max_trace_wait_seconds": 60.0}})
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.http_url)))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("POST /agent", attributes={"tenant.id": "acme", "feature.name": "agent"}):
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=llm_span_attributes(
                "openai", "gpt-4o-mini", input_tokens=10, output_tokens=1)):
            pass
        time.sleep(2.0)  # the LLM span is exported and idle for 4 trace waits before its parent ends
    provider.shutdown()
    receiver.stop()
    assert receiver.sql("SELECT tenant_id, feature FROM llmcost.llm_usage") == [
        {"tenant_id": "acme", "feature": "agent"}]


def test_a_remote_parent_is_not_waited_for(receiver_factory):
    receiver = receiver_factory({"attribution": {"trace_wait_seconds": 0.5, "max_trace_wait_seconds": 600.0}})
    trace_id = os.urandom(16)
    entry = llm_span(trace_id, "unused", 0, 0, parent=os.urandom(8))  # a SERVER span whose caller is elsewhere
    entry.kind = entry.SPAN_KIND_SERVER
    entry.attributes.clear()
    call = llm_span(trace_id, "gpt-4o-mini", 10, 1, parent=entry.span_id)
    assert post(receiver.http_url, request(call, entry).SerializeToString(), "application/x-protobuf")[0] == 200
    rows = []
    for _ in range(40):  # written after the idle wait, long before the 600 s maximum
        out = run_cli("sql", "--data-dir", str(receiver.data_dir), "SELECT span_id FROM llmcost.llm_usage").stdout
        rows = [json.loads(line) for line in out.splitlines()]
        if rows:
            break
        time.sleep(0.25)
    assert rows == [{"span_id": call.span_id.hex()}]
    log = receiver.stop()
    assert "stored 1 rows in 1 inserts (0 dead-lettered); largest lag " in log  # the operator sees the first
    assert "without its root span" not in log  # a remote parent is no missing root


def test_a_trace_written_without_its_root_is_named_in_the_log(receiver_factory):
    receiver = receiver_factory({"attribution": {"trace_wait_seconds": 0.2, "max_trace_wait_seconds": 0.5}})
    orphan = llm_span(os.urandom(16), "gpt-4o-mini", 10, 1, parent=os.urandom(8))  # its parent never comes
    assert post(receiver.http_url, request(orphan).SerializeToString(), "application/x-protobuf")[0] == 200
    for _ in range(40):
        if receiver.sql("SELECT count() AS n FROM llmcost.llm_usage") == [{"n": 1}]:
            break
        time.sleep(0.25)
    log = receiver.stop()
    assert f"trace {orphan.trace_id.hex()} written without its root span after 0s: its 1 calls miss" in log


def test_stored_rows_are_one_log_line_per_minute_not_one_per_insert(receiver_factory):
    # One worker: with several, each worker's flusher logs its own line a minute (labelled [worker n]).
    receiver = receiver_factory({"attribution": {"trace_wait_seconds": 0.1, "max_trace_wait_seconds": 1.0},
                                 "store": {"flush_interval_seconds": 0.1}, "receiver": {"workers": 1}})
    for n in range(8):  # eight exports, each written in its own insert
        call = llm_span(os.urandom(16), "gpt-4o-mini", 10, 1)
        assert post(receiver.http_url, request(call).SerializeToString(), "application/x-protobuf")[0] == 200
        for _ in range(40):
            if receiver.sql("SELECT count() AS n FROM llmcost.llm_usage") == [{"n": n + 1}]:
                break
            time.sleep(0.1)
    log = receiver.stop()
    stored = [line for line in log.splitlines() if " stored " in line]
    assert len(stored) == 2, stored  # the first insert, then the rest at close
    assert "stored 1 rows in 1 inserts" in stored[0] and "stored 7 rows in 7 inserts in the last" in stored[1]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_trace_that_comes_in_parts_after_its_root_is_written_by_the_settle_and_kept_whole(workers, receiver_factory):
    """The app's root is exported first (no call: written at once, nothing kept), then its LLM call, then one
    more span once the call's row is stored. The call's part belongs to a rooted trace: it is written after
    root_settle_seconds, not after trace_wait_seconds (nor max_trace_wait_seconds once the recent cache had
    forgotten the root: one trace of bench/ingest.py's 200k spans with one worker, held 120 s); and every
    span of the trace is kept, the root's and the last one's too, with the tenant, the call billed once."""
    receiver = receiver_factory({"receiver": {"workers": workers}, "attribution": {
        "trace_wait_seconds": 20.0, "max_trace_wait_seconds": 60.0, "root_settle_seconds": 0.5}})
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.http_url)))
    tracer = provider.get_tracer("t")
    root = tracer.start_span("POST /agent", attributes={"tenant.id": "acme", "feature.name": "agent"})
    inside = trace.set_span_in_context(root)
    call = tracer.start_span("chat gpt-4o-mini", context=inside, attributes=llm_span_attributes(
        "openai", "gpt-4o-mini", input_tokens=10, output_tokens=1))
    tool = tracer.start_span("tool search", context=inside)
    root.end()  # each end is an export of its own (SimpleSpanProcessor)
    time.sleep(1.0)  # five flush intervals: the root's part is written, without a call
    call.end()
    exported = time.monotonic()
    assert _poll(receiver, "SELECT tenant_id, feature FROM llmcost.llm_usage") == [
        {"tenant_id": "acme", "feature": "agent"}]
    written = time.monotonic() - exported
    tool.end()
    spans = "SELECT SpanName, SpanAttributes['otel_llmcost.tenant'] AS tenant FROM llmcost.otel_traces"
    stored = _poll(receiver, spans, count=3)
    provider.shutdown()
    receiver.stop()
    assert written < 10.0, f"the call's row took {written:.1f}s (trace_wait_seconds is 20)"
    assert sorted((row["SpanName"], row["tenant"]) for row in stored) == [
        ("POST /agent", "acme"), ("chat gpt-4o-mini", "acme"), ("tool search", "acme")]
    assert receiver.sql("SELECT count() AS n FROM llmcost.llm_usage") == [{"n": 1}]


def _poll(receiver, query: str, count: int = 1, seconds: float = 30.0) -> list[dict]:
    """The query's rows once there are `count` of them (through the query listener: a poll costs no process)."""
    url = f"http://127.0.0.1:{receiver.query_port}/?" + urllib.parse.urlencode({"query": f"{query} FORMAT JSONEachRow"})
    deadline = time.monotonic() + seconds
    while True:
        with urllib.request.urlopen(url, timeout=10) as response:
            rows = [json.loads(line) for line in response.read().decode().splitlines()]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_late_part_keeps_its_ancestors_however_many_traces_pass_before_it_is_written():
    """bench/ingest.py's stuck trace: the late part waited, and meanwhile a firehose pushed the root out of
    the recent cache (64 MiB: ~4 s of spans), so it was held max_wait and attributed without its root."""
    now = [0.0]
    buffer = TraceBuffer(wait=5.0, max_wait=120.0, recent_max_bytes=100_000, clock=lambda: now[0], settle=6.0)

    def span(trace_id: str, span_id: str, parent: str = "") -> SpanRecord:
        return SpanRecord(trace_id, span_id, parent, "work", 1, 1, 2, 0, "", {}, {}, "app", "")

    root = span("a" * 32, "1" * 16)
    buffer.add([root], 0, 100, [None])
    assert [group.spans for group in buffer.take_ready()] == [(root,)]  # no call: written at once
    call = span("a" * 32, "2" * 16, parent=root.span_id)
    buffer.add([call], 0, 100, [object()])  # type: ignore[list-item]  # only whether it is a call counts here
    for n in range(200):  # other traces, 200 KB of them: twice the recent cache
        buffer.add([span(f"{n:032x}", "3" * 16)], 0, 1000, [None])
        buffer.take_ready()
    now[0] = 5.9
    assert buffer.take_ready() == []  # it holds a call: its root's settle goes on
    now[0] = 6.0
    [group] = buffer.take_ready()
    assert (group.spans, set(group.context), group.timed_out) == ((call,), {root.span_id, call.span_id}, False)
    assert buffer.buffered_bytes == 0 and buffer.span_count == 0
