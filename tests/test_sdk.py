"""The in-app SDK (otel_llmcost.sdk) in a test app with the real OpenTelemetry SDK: LLM call spans priced in
the process, handed on to another exporter with their cost, and written as rows to a store; the costs of both
paths agree to the last digit, attribution comes from the spans' ancestors, and nothing imports chDB."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from forwarding import emit_calls
from otel_llmcost import sdk
from otel_llmcost.sdk import InAppPricer, UsageRowExporter
from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.server_store import ServerStore
from test_store_contract import server_database

LLM_NAMES = ("chat gpt-4o-mini", "chat gpt-4o")


def test_spans_priced_in_the_app_match_the_rows_written(tmp_path):
    store = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    store.ensure_schema()
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-app", "deployment.environment.name": "t"}))
    sdk.setup(provider, exporter=memory, trace_wait_seconds=1.0, max_trace_wait_seconds=10.0)
    sdk.setup(provider, store=store, trace_wait_seconds=1.0, max_trace_wait_seconds=10.0)
    emit_calls(provider.get_tracer("sdk-app"), traces=6, tag="sdk")
    provider.shutdown()  # releases every waiting trace and closes the store

    spans = memory.get_finished_spans()
    assert len(spans) == 6 * 4 + 1
    assert Counter(span.context.span_id for span in spans).most_common(1)[0][1] == 1
    calls = {f"{span.context.span_id:016x}": span for span in spans if span.name in LLM_NAMES}
    assert len(calls) == 12
    reader = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    try:
        rows = {row["span_id"]: row for row in reader.query(
            "SELECT span_id, toString(cost_usd) AS cost, tenant_id, feature, request_id, cost_status"
            " FROM llmcost.llm_usage")}
    finally:
        reader.close()
    assert set(rows) == set(calls)
    for span_id, span in calls.items():
        attributes, row = span.attributes, rows[span_id]
        assert row["cost_status"] == "priced"
        assert Decimal(attributes["otel_llmcost.cost_usd"]) == Decimal(row["cost"]) > 0
        assert (attributes["otel_llmcost.tenant_id"], attributes["otel_llmcost.feature"],
                attributes["otel_llmcost.request_id"]) == (row["tenant_id"], row["feature"], row["request_id"])
        assert row["tenant_id"].startswith("tenant-") and row["feature"] == "ask"  # from the root span
        cost_key = "otel_llmcost.cost.amount" if span.name == "chat gpt-4o" else "gen_ai.usage.cost.amount"
        assert attributes[cost_key] == float(Decimal(row["cost"]))
    others = [span for span in spans if span.name not in LLM_NAMES]
    assert not any(key.startswith("otel_llmcost.") for span in others for key in span.attributes)


def test_the_sdk_works_without_chdb():
    program = """
import sys
sys.modules["chdb"] = None  # any import of chDB fails
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_llmcost import sdk
memory = InMemorySpanExporter()
provider = TracerProvider()
sdk.setup(provider, exporter=memory)
with provider.get_tracer("t").start_as_current_span("chat gpt-4o-mini", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}):
    pass
provider.shutdown()
[span] = memory.get_finished_spans()
print(span.attributes["otel_llmcost.cost_usd"], span.attributes["gen_ai.usage.cost.source"])
"""
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    cost, source = result.stdout.split()
    assert Decimal(cost) > 0 and source == "local"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_clickhouse_server_never_stops_the_app_and_its_rows_wait(caplog):
    """sdk.setup(clickhouse=URL) with the real clickhouse-driver and nothing listening at the URL: setup and
    the app's spans go on; the priced rows wait, the connection is retried with backoff, and what never got
    stored is said at shutdown. (No ClickHouse server runs here: see the next test for one.)"""
    caplog.set_level(logging.WARNING, logger="otel_llmcost.sdk")
    url = f"clickhouse://default:@127.0.0.1:{_free_port()}/llmcost"
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-app"}))
    exporter = sdk.setup(provider, clickhouse=url, trace_wait_seconds=1.0, max_trace_wait_seconds=10.0)
    emit_calls(provider.get_tracer("sdk-app"), traces=3, tag="down")
    assert provider.force_flush()
    assert (exporter.unsent_rows, exporter.rows_written) == (6, 0)
    deadline = time.monotonic() + 30
    while exporter.failed_attempts < 2 and time.monotonic() < deadline:  # the first retry comes after 1 s
        time.sleep(0.2)
    assert exporter.failed_attempts >= 2
    assert "Connection refused" in caplog.text
    provider.shutdown()
    assert "6 rows could not be stored before shutdown" in caplog.text


def test_rows_held_for_an_unreachable_server_are_capped():
    url = f"clickhouse://default:@127.0.0.1:{_free_port()}/llmcost"
    exporter = UsageRowExporter(None, InAppPricer(trace_wait_seconds=1.0), batch_max_rows=2, max_unsent_rows=4,
                                open_store=lambda: ServerStore(url, "llmcost"))
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    emit_calls(provider.get_tracer("sdk-app"), traces=5, tag="cap")  # 10 priced rows
    exporter.force_flush()
    assert (exporter.unsent_rows, exporter.dropped_rows) == (4, 6)
    provider.shutdown()


def test_rows_written_to_a_clickhouse_server():
    """sdk.setup(clickhouse=URL) against a real ClickHouse server, when OTEL_LLMCOST_TEST_CLICKHOUSE names one
    (as for tests/test_store_contract.py): the rows in the server carry the costs the spans were given."""
    with server_database("llmcost_sdk") as (server, database, admin):
        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "sdk-app"}))
        sdk.setup(provider, exporter=memory, trace_wait_seconds=1.0, max_trace_wait_seconds=10.0)
        url = urlunsplit(urlsplit(server)._replace(path=f"/{database}"))
        sdk.setup(provider, clickhouse=url, trace_wait_seconds=1.0, max_trace_wait_seconds=10.0)
        emit_calls(provider.get_tracer("sdk-app"), traces=4, tag="server")
        provider.shutdown()
        rows = {row["span_id"]: row for row in admin.query(
            f"SELECT span_id, toString(cost_usd) AS cost, request_id FROM {database}.llm_usage")}
    calls = {f"{span.context.span_id:016x}": span for span in memory.get_finished_spans() if span.name in LLM_NAMES}
    assert set(rows) == set(calls) and len(rows) == 8
    for span_id, span in calls.items():
        assert Decimal(span.attributes["otel_llmcost.cost_usd"]) == Decimal(rows[span_id]["cost"]) > 0
