"""The in-app SDK with real instrumentation: tests/sdk_openai_app.py (the `openai` client instrumented by
opentelemetry-instrumentation-openai-v2, against the capture script's stand-in provider) prices its calls in
the process, hands the spans through the SDK's OTLP/gRPC exporter to a downstream endpoint process
(tests/otlp_sink.py) and writes rows to its own store. Every cost agrees to the last digit with the price
book's rates for the stand-in's token counts, with the rows the app wrote, and with the rows a real receiver
stores for the same spans."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import FAST_CONFIG, Receiver
from forwarding import Sink
from otel_llmcost.pricing import load_price_book
from otel_llmcost.store.chdb_store import ChdbStore

APP = Path(__file__).with_name("sdk_openai_app.py")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "capture"))
from fake_provider import USAGE  # noqa: E402  (the stand-in's token counts)

#: request.id (the app's scenario) -> the token counts of its calls, in order of attempt (None: refused).
#: openai-v2 reports no cached tokens, so the stand-in's 20 cached prompt tokens are billed as input.
CALLS: dict[str, list[tuple[int, int] | None]] = {
    "chat": [(USAGE["chat"]["prompt_tokens"], USAGE["chat"]["completion_tokens"])],
    "chat_stream": [(USAGE["chat_stream"]["prompt_tokens"], USAGE["chat_stream"]["completion_tokens"])],
    "embeddings": [(USAGE["embeddings"]["prompt_tokens"], 0)],
    "rate_limited_retry": [None, (USAGE["chat"]["prompt_tokens"], USAGE["chat"]["completion_tokens"])],
    "sdk_retry": [(USAGE["chat"]["prompt_tokens"], USAGE["chat"]["completion_tokens"])],  # retried inside one call
    "failed": [None],
}
LLM_SPANS = sum(len(calls) for calls in CALLS.values())
COST_COLUMNS = ("cost_usd", "input_cost_usd", "output_cost_usd", "cache_read_cost_usd", "reasoning_cost_usd")
OURS = ("otel_llmcost.", "gen_ai.usage.cost.")  # the attributes pricing adds


def _rows(directory: Path) -> dict[str, dict]:
    store = ChdbStore(str(directory), "llmcost")
    try:
        return {row["span_id"]: row for row in store.query(
            "SELECT * EXCEPT (ingested_at) FROM llmcost.llm_usage ORDER BY span_id")}
    finally:
        store.close()


@pytest.fixture(scope="module")
def app_run(tmp_path_factory):
    """The app run once: the spans that reached the endpoint, its export bodies, and the rows it wrote."""
    root = tmp_path_factory.mktemp("sdk-openai")
    sink = Sink(root / "sink.out").start()
    try:
        done = subprocess.run([sys.executable, str(APP), str(sink.grpc_port), str(root / "app-chdb")],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        spans = sink.wait_for_spans(LLM_SPANS + len(CALLS))
        bodies = sink.exports("traces")
    finally:
        sink.stop()
    return root, spans, bodies, _rows(root / "app-chdb")


def test_every_span_reaches_the_endpoint_once_and_each_llm_call_is_one_row(app_run):
    _, spans, _, rows = app_run
    assert len(spans) == LLM_SPANS + len(CALLS)
    assert set(Counter(span_id for _, span_id, _, _ in spans).values()) == {1}
    calls = {span_id: (name, attributes) for _, span_id, name, attributes in spans
             if "gen_ai.operation.name" in attributes}
    assert set(calls) == set(rows)
    assert Counter(name for name, _ in calls.values()) == {"chat gpt-4o-mini": 6,
                                                           "embeddings text-embedding-3-small": 1}
    assert Counter(row["request_id"] for row in rows.values()) == {name: len(c) for name, c in CALLS.items()}
    others = [attributes for _, _, name, attributes in spans if "gen_ai.operation.name" not in attributes]
    assert not any(key.startswith(OURS) for attributes in others for key in attributes)


def test_costs_are_the_price_books_rates_times_the_providers_tokens(app_run):
    _, _, _, rows = app_run
    book = load_price_book(())
    now = datetime.now(timezone.utc)
    for row in rows.values():
        tokens = CALLS[row["request_id"]][row["attempt"] - 1]
        if tokens is None:  # refused by the provider: a row of the failed try, at zero
            assert (row["status"], row["input_tokens"], row["output_tokens"]) == ("error", 0, 0)
            assert Decimal(row["cost_usd"]) == 0
            continue
        assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (*tokens, 0)
        entry, _ = book.lookup("openai", row["response_model"], now)
        assert entry is not None and entry.price_id == row["price_id"]
        rates, _ = entry.rates_for(row["input_tokens"], now)
        million = Decimal(1_000_000)
        expected_input, expected_output = tokens[0] * rates.input / million, tokens[1] * rates.output / million
        assert Decimal(row["input_cost_usd"]) == expected_input
        assert Decimal(row["output_cost_usd"]) == expected_output
        assert Decimal(row["cost_usd"]) == expected_input + expected_output > 0
        assert row["cost_status"] == "priced"
    assert {row["price_id"] for row in rows.values()} == {"openai/gpt-4o-mini@2023-01-01",
                                                         "openai/text-embedding-3-small@2023-01-01"}


def test_the_spans_handed_on_carry_the_rows_costs_to_the_digit(app_run):
    _, spans, _, rows = app_run
    for _, span_id, _, attributes in spans:
        if span_id not in rows:
            continue
        row = rows[span_id]
        assert Decimal(attributes["otel_llmcost.cost_usd"]) == Decimal(row["cost_usd"])
        assert Decimal(attributes["otel_llmcost.cost.input_cost"]) == Decimal(row["input_cost_usd"])
        assert Decimal(attributes["otel_llmcost.cost.output_cost"]) == Decimal(row["output_cost_usd"])
        assert attributes["gen_ai.usage.cost.amount"] == float(Decimal(row["cost_usd"]))
        assert (attributes["gen_ai.usage.cost.currency"], attributes["gen_ai.usage.cost.source"]) == ("USD", "local")
        assert (attributes["otel_llmcost.price_id"], attributes["otel_llmcost.request_id"],
                attributes["otel_llmcost.tenant_id"], attributes["otel_llmcost.feature"]) == (
            row["price_id"], row["request_id"], "capture-tenant", "capture")


def _as_the_app_made_them(body: bytes) -> bytes:
    """An export that arrived, without the attributes pricing added: the spans as openai-v2 made them."""
    request = ExportTraceServiceRequest.FromString(body)
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                kept = [kv for kv in span.attributes if not kv.key.startswith(OURS)]
                del span.attributes[:]
                span.attributes.extend(kept)
    return request.SerializeToString()


def test_a_receiver_stores_the_same_rows_for_the_same_spans(app_run):
    root, _, bodies, app_rows = app_run
    receiver = Receiver(root / "receiver", FAST_CONFIG).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            for body in bodies:
                export(_as_the_app_made_them(body), timeout=30)
        deadline = time.monotonic() + 60
        while len(receiver.sql("SELECT span_id FROM llmcost.llm_usage")) < LLM_SPANS and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        receiver.stop()
    stored = _rows(root / "receiver" / "chdb")
    assert stored == app_rows  # every column, costs to the last digit
    assert all(Decimal(row[column]) == Decimal(app_rows[span_id][column])
               for span_id, row in stored.items() for column in COST_COLUMNS)
