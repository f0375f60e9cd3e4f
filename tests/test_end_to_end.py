"""The core scenario through the real receiver, over OTLP/gRPC and OTLP/HTTP, with the SDK's exporters."""

from __future__ import annotations

from decimal import Decimal

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

from conftest import run_cli
from scenario import EXPECTED_ROWS, TEST_PRICE_BOOK, emit_request

ROW_QUERY = """
SELECT tenant_id, environment, service_name, feature, user_id, request_id, attempt, provider, operation,
       request_model, response_model, status, error_type, input_tokens, cache_read_tokens, cache_write_tokens,
       output_tokens, reasoning_tokens, cost_usd, cost_status, cost_note, price_id, trace_id
FROM llmcost.llm_usage ORDER BY ts, request_model
"""


def _exporter(transport: str, receiver):
    if transport == "grpc":
        return GrpcSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True)
    return HttpSpanExporter(endpoint=receiver.http_url)


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_scenario_gives_exact_priced_rows(transport, receiver_factory, tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text(TEST_PRICE_BOOK)
    receiver = receiver_factory({"pricing": {"price_books": [str(prices)]}})
    emit_request(_exporter(transport, receiver), request_id="req-1")
    receiver.stop()

    rows = receiver.sql(ROW_QUERY)
    assert len(rows) == len(EXPECTED_ROWS), rows
    for row, expected in zip(rows, EXPECTED_ROWS, strict=True):
        actual = {key: row[key] for key in expected}
        actual["cost_usd"] = None if row["cost_usd"] is None else Decimal(row["cost_usd"])
        assert actual == expected
        assert (row["tenant_id"], row["feature"], row["request_id"], row["user_id"]) == (
            "acme", "summarize", "req-1", "u-42")
        assert (row["service_name"], row["environment"]) == ("summarizer-api", "prod")
    assert {row["provider"] for row in rows} == {"openai", "anthropic"}
    assert rows[1]["response_model"] == "gpt-4o-mini-2024-07-18"
    assert rows[1]["price_id"] == "openai/gpt-4o-mini@2020-01-01"
    assert "mystery-model-9000" in rows[4]["cost_note"]
    assert rows[3]["operation"] == "embeddings"
    assert len({row["trace_id"] for row in rows}) == 1


def test_request_id_defaults_to_trace_id_and_bundled_prices_apply(receiver_factory):
    receiver = receiver_factory()
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(HttpSpanExporter(endpoint=receiver.http_url)))
    with provider.get_tracer("t").start_as_current_span("chat gpt-4o-mini", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 1_000_000, "gen_ai.usage.output_tokens": 1_000_000,
    }):
        pass
    provider.shutdown()
    receiver.stop()
    [row] = receiver.sql(
        "SELECT request_id, trace_id, cost_usd, cost_status, price_book_version FROM llmcost.llm_usage")
    assert row["request_id"] == row["trace_id"]
    assert row["cost_status"] == "priced"
    # The bundled book's gpt-4o-mini price: 0.15 in + 0.60 out per million tokens.
    assert Decimal(row["cost_usd"]) == Decimal("0.75")
    assert row["price_book_version"].startswith("genai-prices")


def test_web_searches_reported_by_litellm_are_priced_per_search(receiver_factory):
    receiver = receiver_factory()
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(HttpSpanExporter(endpoint=receiver.http_url)))
    usage = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100,
             "server_tool_use": {"web_search_requests": 3, "tool_search_requests": None}}
    with provider.get_tracer("litellm").start_as_current_span("litellm_request", attributes={
        "llm.request.type": "completion", "gen_ai.system": "anthropic", "litellm.call_id": "c1",
        "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.usage.input_tokens": "1000",
        "gen_ai.usage.output_tokens": "100", "metadata.usage_object": repr(usage),  # as LiteLLM writes it
    }):
        pass
    provider.shutdown()
    receiver.stop()
    [row] = receiver.sql("SELECT web_searches, search_fee_usd, cost_usd, cost_status FROM llmcost.llm_usage")
    # The bundled Anthropic price: $10 per 1,000 searches (genai-prices), 3 in + 15 out per million tokens.
    assert (row["web_searches"], Decimal(row["search_fee_usd"]), row["cost_status"]) == (3, Decimal("0.03"), "priced")
    assert Decimal(row["cost_usd"]) == Decimal("0.003") + Decimal("0.0015") + Decimal("0.03")
    # Repricing reads the searches back from the row: nothing changes.
    dry = run_cli("reprice", "--data-dir", str(receiver.data_dir), "--since", "1d", "--dry-run")
    assert "1 calls checked, 0 would change" in dry.stdout
