"""Attribution waits for ancestors that arrive late, and does not wait for parents that never come."""

from __future__ import annotations

import json
import os
import time

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import run_cli
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
