"""Units billed beside tokens (kinds.py), priced end to end through the real receiver: web searches (Gemini
grounding and Anthropic's server tool in the Vercel AI SDK's provider metadata), file searches per 1,000,
images, seconds of audio and per-request fees; the quote CLI's flags come from the same table."""

from __future__ import annotations

import json
from decimal import Decimal

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import run_cli
from otel_llmcost.kinds import COST_COLUMNS, COUNTED, KINDS, billed_units
from otel_llmcost.semconv.server_tools import unit_counts

# Prices as the providers publish them (USD), per the unit each kind's price is for:
# Gemini 2.5 Flash: grounding with Google Search $35 / 1,000 grounded prompts (ai.google.dev/pricing);
# Claude Sonnet 4.5: web search $10 / 1,000 searches (docs.anthropic.com, pricing);
# OpenAI: file search tool calls $2.50 / 1,000 calls, DALL-E 3 standard 1024x1024 $0.04 an image,
# whisper-1 $0.006 a minute (openai.com/api/pricing); Perplexity sonar: $5 / 1,000 requests (low context).
PRICE_BOOK = """
version: units-test
prices:
  - provider: gcp.gemini
    models: [gemini-2.5-flash]
    effective_from: 2025-01-01
    input: "0.30"
    output: "2.50"
    per_search: "0.035"
  - provider: anthropic
    models: [claude-sonnet-4-5]
    effective_from: 2025-01-01
    input: "3"
    output: "15"
    per_search: "0.01"
  - provider: openai
    models: [gpt-4.1]
    effective_from: 2025-01-01
    input: "2"
    output: "8"
    per_1k_file_searches: "2.50"
  - provider: openai
    models: [dall-e-3]
    effective_from: 2025-01-01
    input: "0"
    output: "0"
    per_image: "0.04"
  - provider: openai
    models: [whisper-1]
    effective_from: 2025-01-01
    input: "0"
    output: "0"
    per_audio_minute: "0.006"
  - provider: perplexity
    models: [sonar]
    effective_from: 2025-01-01
    input: "1"
    output: "1"
    per_request: "0.005"
  - provider: openai
    models: [gpt-image-unpriced]
    effective_from: 2025-01-01
    input: "5"
    output: "40"
"""


def _vercel(provider: str, model: str, metadata: dict) -> dict:
    """A Vercel AI SDK 5 doGenerate span's attributes (as in tests/fixtures/dialects/vercel-ai*.json)."""
    return {"ai.operationId": "ai.generateText.doGenerate", "ai.model.provider": provider, "ai.model.id": model,
            "ai.usage.inputTokens": 1000, "ai.usage.outputTokens": 100,
            "ai.response.providerMetadata": json.dumps(metadata)}


def _genai(provider: str, model: str, operation: str, **attributes) -> dict:
    return {"gen_ai.operation.name": operation, "gen_ai.provider.name": provider, "gen_ai.request.model": model,
            **attributes}


SPANS = {
    "grounded": _vercel("google.generative-ai", "gemini-2.5-flash", {"google": {
        "groundingMetadata": {"webSearchQueries": ["paris weather", "paris events"], "groundingChunks": []},
        "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 100}}}),
    "anthropic_search": _vercel("anthropic.messages", "claude-sonnet-4-5", {"anthropic": {
        "usage": {"input_tokens": 1000, "output_tokens": 100, "server_tool_use": {"web_search_requests": 3}}}}),
    "file_search": _genai("openai", "gpt-4.1", "chat", **{
        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100, "llmcost.usage.file_searches": 4}),
    "images": _genai("openai", "dall-e-3", "image_generation", **{"llmcost.usage.images": 2}),
    "transcription": _genai("openai", "whisper-1", "transcription", **{"llmcost.usage.audio_seconds": 95}),
    "per_request": _genai("perplexity", "sonar", "chat", **{
        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 1000}),
    "unpriced_images": _genai("openai", "gpt-image-unpriced", "image_generation", **{"llmcost.usage.images": 1}),
}
EXPECTED = {  # request id -> (the unit count, the cost column, its cost, total cost, status)
    "grounded": ("web_searches", 2, "search_fee_usd", Decimal("0.07"), Decimal("0.00055") + Decimal("0.07")),
    "anthropic_search": ("web_searches", 3, "search_fee_usd", Decimal("0.03"), Decimal("0.0045") + Decimal("0.03")),
    "file_search": ("file_searches", 4, "tool_fee_usd", Decimal("0.01"), Decimal("0.0028") + Decimal("0.01")),
    "images": ("images", 2, "image_fee_usd", Decimal("0.08"), Decimal("0.08")),
    "transcription": ("audio_seconds", 95, "audio_fee_usd", Decimal("0.0095"), Decimal("0.0095")),
    "per_request": ("input_tokens", 1000, "request_fee_usd", Decimal("0.005"), Decimal("0.002") + Decimal("0.005")),
    "unpriced_images": ("images", 1, "image_fee_usd", Decimal(0), Decimal(0)),
}


def test_units_beside_tokens_are_priced_end_to_end(receiver_factory, tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICE_BOOK)
    receiver = receiver_factory({"pricing": {"price_books": [str(prices)]}})
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.http_url)))
    for request_id, attributes in SPANS.items():
        with provider.get_tracer("app").start_as_current_span(f"call {request_id}", attributes={
                **attributes, "request.id": request_id}):
            pass
    provider.shutdown()
    receiver.stop()

    rows = {row["request_id"]: row for row in receiver.sql("SELECT * FROM llmcost.llm_usage")}
    assert set(rows) == set(SPANS)
    for request_id, (count, units, column, cost, total) in EXPECTED.items():
        row = rows[request_id]
        assert (row[count], Decimal(row[column]), Decimal(row["cost_usd"])) == (units, cost, total), request_id
        assert sum(Decimal(row[name]) for name in COST_COLUMNS) == Decimal(row["cost_usd"])
        expected_status = "estimated" if request_id == "unpriced_images" else "priced"
        assert row["cost_status"] == expected_status, (request_id, row["cost_note"])
    assert rows["unpriced_images"]["cost_note"] == "no per_image price: 1 x image not charged"
    assert rows["transcription"]["operation"] == "transcription"
    [hourly] = receiver.sql("SELECT sum(images) AS images, sum(audio_seconds) AS seconds, sum(file_searches) AS"
                            " files, toString(sum(tool_fee_usd)) AS tool_fees FROM llmcost.usage_hourly")
    assert hourly == {"images": 3, "seconds": 95, "files": 4, "tool_fees": "0.01"}

    # Repricing reads every kind's count back from the row: nothing changes.
    dry = run_cli("reprice", "--data-dir", str(receiver.data_dir), "--config", str(receiver.config_file),
                  "--since", "1d", "--dry-run")
    assert f"{len(SPANS)} calls checked, 0 would change" in dry.stdout, dry.stdout + dry.stderr


def test_quote_has_a_flag_per_counted_kind(tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICE_BOOK)
    config = tmp_path / "config.yaml"
    config.write_text(f"pricing:\n  price_books: [{prices}]\n")
    result = run_cli("prices", "quote", "--data-dir", str(tmp_path / "data"), "--config", str(config),
                     "--provider", "openai", "--model", "whisper-1", "--audio-seconds", "30", "--at", "2026-01-01")
    quote = json.loads(result.stdout)
    assert (quote["audio_seconds"], quote["audio_fee_usd"], quote["cost_usd"]) == (30, "0.003000000000",
                                                                                   "0.003000000000")
    help_text = run_cli("prices", "quote", "--help").stdout
    assert all(f"--{kind.field.replace('_', '-')}" in help_text for kind in COUNTED)


def test_billed_units_take_each_part_out_of_its_whole_once():
    units = billed_units({"input_tokens": 1000, "cache_read_tokens": 600, "cache_write_tokens": 300,
                          "cache_write_1h_tokens": 100, "audio_input_tokens": 50, "image_input_tokens": 400,
                          "output_tokens": 200, "reasoning_tokens": 150, "audio_output_tokens": 100})
    assert (units["input"], units["cache_read"], units["cache_write"], units["cache_write_1h"]) == (0, 600, 200, 100)
    assert (units["audio_input"], units["image_input"]) == (50, 400)  # parts of input: never more than it holds
    assert (units["output"], units["reasoning"], units["audio_output"]) == (0, 150, 100)
    assert units["per_request"] == 1 and {kind.rate for kind in KINDS} == set(units)


def test_unit_counts_from_provider_documents():
    responses = {"output": [{"type": "web_search_call"}, {"type": "file_search_call"}, {"type": "message"},
                            {"type": "image_generation_call"}, {"type": "web_search_call"}]}
    assert unit_counts(responses) == {"llmcost.usage.web_searches": 2, "llmcost.usage.file_searches": 1,
                                      "llmcost.usage.images": 1}
    assert unit_counts({"usage": {"type": "duration", "seconds": 12.2}}) == {"llmcost.usage.audio_seconds": 13}
    assert unit_counts({"server_tool_use": {"web_search_requests": True}}) == {}
    deep: dict = {}
    for _ in range(50):
        deep = {"x": deep}
    assert unit_counts(deep) == {}


def test_response_documents_give_their_unit_counts_at_decode():
    """A response kept whole as an attribute (OpenInference's output.value) is read for its units at decode and
    not kept; a count the span states itself wins; with every attribute kept (traces.keep) the document stays."""
    import os

    from otel_llmcost.decode import decode_spans
    from otel_llmcost.rows.traces import _EVERY_ATTRIBUTE
    from otel_llmcost.semconv import WANTED_ATTRIBUTES, extract_call
    from payloads import llm_span, request

    response = json.dumps({"object": "response", "output": [
        {"type": "web_search_call", "id": "ws_1"}, {"type": "web_search_call", "id": "ws_2"},
        {"type": "file_search_call", "id": "fs_1"}, {"type": "message", "content": []}]})
    spans = [llm_span(os.urandom(16), "gpt-4.1", 10, 5, **{"output.value": response}),
             llm_span(os.urandom(16), "gpt-4.1", 10, 5, **{"output.value": response,
                                                           "llmcost.usage.web_searches": 7}),
             llm_span(os.urandom(16), "gpt-4.1", 10, 5, **{"output.value": "Paris is the capital of France."}),
             llm_span(os.urandom(16), "gpt-4.1", 10, 5, **{"output.value": '{"usage": {"server_tool_use": {'})]
    read, own, text, torn = decode_spans(request(*spans), WANTED_ATTRIBUTES).spans
    assert "output.value" not in read.attributes
    assert (read.attributes["llmcost.usage.web_searches"], read.attributes["llmcost.usage.file_searches"]) == (2, 1)
    call = extract_call(read)
    assert call is not None and (call.web_searches, call.file_searches) == (2, 1)
    assert own.attributes["llmcost.usage.web_searches"] == 7 and own.attributes["llmcost.usage.file_searches"] == 1
    assert not any(key.startswith("llmcost.usage") for key in (*text.attributes, *torn.attributes))
    [kept] = decode_spans(request(spans[0]), WANTED_ATTRIBUTES.union(_EVERY_ATTRIBUTE)).spans
    assert kept.attributes["output.value"] == response and kept.attributes["llmcost.usage.web_searches"] == 2


def test_bundled_unit_prices_and_gemini_grounding_per_prompt(tmp_path):
    """The bundled book's Gemini 2.x entries charge grounding once per grounded prompt (`once_per_call`), Gemini
    3's per search query ($35 / 1,000 grounded prompts and $14 / 1,000 queries: ai.google.dev/pricing); the
    row's web_searches keeps the queries either way. From genai-prices it also has whisper-1 by the minute of
    audio ($0.36 an hour) and OpenAI's file search tool calls ($2.50 / 1,000). A book naming an uncounted kind
    in once_per_call is refused."""
    from datetime import datetime, timezone

    from otel_llmcost.errors import PriceBookError
    from otel_llmcost.model import LlmCall
    from otel_llmcost.pricing import load_price_book
    from otel_llmcost.pricing.cost import price_call

    book = load_price_book()
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    for model, fee in (("gemini-2.5-flash", Decimal("0.035")), ("gemini-2.0-flash", Decimal("0.035")),
                       ("gemini-3-pro-preview", 3 * Decimal("0.014"))):
        call = LlmCall("test", "gcp.gemini", "chat", model, model, "", "", False, None, "", "", input_tokens=1000,
                       output_tokens=100, web_searches=3)
        cost = price_call(call, at, book)
        assert (cost.search_fee_usd, cost.status) == (fee, "priced"), model
    transcription = LlmCall("test", "openai", "transcription", "whisper-1", "whisper-1", "", "", False, None, "", "",
                            audio_seconds=95)
    cost = price_call(transcription, at, book)
    assert (cost.audio_fee_usd, cost.cost_usd, cost.status) == (Decimal("0.0095"), Decimal("0.0095"), "priced")
    searched = LlmCall("test", "openai", "chat", "gpt-4o-mini", "gpt-4o-mini", "", "", False, None, "", "",
                       input_tokens=1000, output_tokens=100, file_searches=4)
    assert price_call(searched, at, book).tool_fee_usd == Decimal("0.01")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: bad\nprices:\n  - {provider: openai, models: [m], effective_from: 2025-01-01, "
                   "input: '1', output: '1', once_per_call: [per_request]}\n")
    try:
        load_price_book([str(bad)])
    except PriceBookError as error:
        assert "once_per_call" in str(error)
    else:
        raise AssertionError("a once_per_call naming a kind without a count was accepted")
