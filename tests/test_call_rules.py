"""The general rules for calls seen through frameworks (docs/dialects.md "Rules for frameworks"), one test each.

Each rule is stated for shapes of spans, not for one library; tests/test_dialect_fixtures.py proves them on the
captured libraries.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from otel_llmcost.config import DEFAULT_ATTRIBUTION_KEYS
from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.pricing import load_price_book, price_call
from otel_llmcost.rows.attribution import Attributor
from otel_llmcost.rows.dedupe import count_once
from otel_llmcost.rows.usage import _with_provider
from otel_llmcost.semconv import extract_call

CALL = LlmCall("openinference", "openai", "chat", "gpt-4o-mini", "", "", error_type="", streaming=False, ttft_ms=None,
               service_tier="", server_address="", input_tokens=120, cache_read_tokens=20, cache_write_tokens=0,
               output_tokens=30, reasoning_tokens=0)
AT = datetime(2026, 6, 1, tzinfo=timezone.utc)


def _span(span_id: str, parent: str = "", scope: str = "scope", start: int = 10, end: int = 20,
          attributes: dict | None = None, status_code: int = 0) -> SpanRecord:
    return SpanRecord("t" * 32, span_id, parent, "s", 3, start, end, status_code, "", attributes or {}, {}, scope,
                      "1")


def test_same_call_from_a_framework_nested_in_its_own_spans_and_a_provider_span_beside_them():
    # app -> agent -> turn -> framework LLM span; the provider span hangs off the app span (the framework's
    # spans were not the active context). No response ids: one call, not two.
    app, agent, turn = _span("app"), _span("agent", "app", "fw", 0, 100), _span("turn", "agent", "fw", 5, 90)
    framework = (_span("llm", "turn", "fw", 10, 40), CALL)
    sdk = (_span("sdk", "app", "provider-sdk", 12, 38), replace(CALL, dialect="otel-genai",
                                                                  response_model="gpt-4o-mini-2024-07-18"))
    spans = {s.span_id: s for s in (app, agent, turn, framework[0], sdk[0])}
    [(span, call)] = count_once([framework, sdk], spans)
    assert call.response_model == "gpt-4o-mini-2024-07-18" and call.input_tokens == 120
    assert span.parent_span_id == "turn"  # the framework's place, where its retries are siblings
    # Two real calls in those places (one after the other) stay two.
    later = (_span("sdk2", "app", "provider-sdk", 50, 60), sdk[1])
    spans["sdk2"] = later[0]
    assert len(count_once([framework, later], spans)) == 2


def test_a_framework_named_as_the_provider_is_replaced_by_the_models_provider():
    book = load_price_book()
    for framework in ("langchain", "openai_agents", "crewai", "strands-agents"):
        assert _with_provider(replace(CALL, provider=framework), book).provider == "openai"
    # The server address says it first; a known provider is kept as it is.
    named = replace(CALL, provider="llama_index", server_address="my-res.openai.azure.com")
    assert _with_provider(named, book).provider == "azure.ai.openai"
    assert _with_provider(replace(CALL, provider="azure.ai.openai"), book).provider == "azure.ai.openai"
    # An umbrella name is narrowed to the family's provider that prices the model.
    gemini = replace(CALL, provider="gcp.gen_ai", request_model="gemini-2.5-flash")
    assert _with_provider(gemini, book).provider.startswith("gcp.")
    assert price_call(_with_provider(gemini, book), AT, book).status == "priced"


def test_a_failed_try_without_usage_or_operation_name_is_a_row_that_costs_nothing():
    # A provider and a requested model on an error span, no operation name, no tokens.
    span = _span("f", attributes={"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini"}, status_code=2)
    call = extract_call(span)
    assert call is not None and call.error_type == "_OTHER" and call.input_tokens == 0
    # Without the error status the same span is not a call (nothing says one was made).
    assert extract_call(replace(span, status_code=0)) is None
    # Failed before the library learnt the model (or naming a deployment): priced at zero, not "unpriced".
    for model in ("", "prod-chat"):
        cost = price_call(replace(CALL, request_model=model, input_tokens=0, cache_read_tokens=0, output_tokens=0,
                                  error_type="RateLimitError"), AT, load_price_book())
        assert (cost.status, cost.cost_usd, cost.note) == ("priced", 0, "failed call without usage")


def test_tries_inside_a_framework_are_numbered_even_when_the_failed_try_names_no_model():
    failed = (_span("a", "turn", start=10, end=11), replace(CALL, request_model="", input_tokens=0, output_tokens=0,
                                                            cache_read_tokens=0, error_type="RateLimitError"))
    retry = (_span("b", "turn", start=12, end=20), replace(CALL, response_model="gpt-4o-mini-2024-07-18"))
    after = (_span("c", "turn", start=21, end=30), CALL)
    attributor = Attributor(DEFAULT_ATTRIBUTION_KEYS)
    spans = {s.span_id: s for s, _ in (failed, retry, after)}
    assert [a.attempt for a in attributor.attribute([failed, retry, after], spans)] == [1, 2, 1]


def test_exclusive_provider_counts_under_inclusive_names():
    # Bedrock Converse's inputTokens (no cache) passed through under the v1.40 names, which mean inclusive.
    bedrock = extract_call(_span("b", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "aws.bedrock", "gen_ai.usage.total_tokens": 125,
        "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 25,
        "gen_ai.usage.cache_read.input_tokens": 300, "gen_ai.usage.cache_creation.input_tokens": 50}))
    assert (bedrock.input_tokens, bedrock.usage_issue) == (450, "")
    # A total that adds the cache to the input says the input excluded it, even when the cache is smaller.
    small_cache = extract_call(_span("s", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "aws.bedrock", "gen_ai.usage.total_tokens": 825,
        "gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 25,
        "gen_ai.usage.cache_read.input_tokens": 300}))
    assert (small_cache.input_tokens, small_cache.output_tokens, small_cache.reasoning_tokens) == (800, 25, 0)


def test_thinking_reported_only_as_the_gap_in_the_total():
    # Gemini: candidatesTokenCount excludes the thoughts, totalTokenCount includes them; the emitter dropped
    # thoughtsTokenCount but kept the total.
    gemini = extract_call(_span("g", attributes={
        "gen_ai.operation.name": "generate_content", "gen_ai.provider.name": "gcp.gen_ai",
        "gen_ai.request.model": "gemini-2.5-flash", "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.cache_read.input_tokens": 20, "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.total_tokens": 160}))
    assert (gemini.input_tokens, gemini.output_tokens, gemini.reasoning_tokens) == (120, 40, 10)
    # A total equal to input + output adds nothing; one below it (an emitter's own sum) neither.
    for total in (150, 125):
        plain = extract_call(_span("p", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30, "gen_ai.usage.total_tokens": total}))
        assert (plain.output_tokens, plain.reasoning_tokens) == (30, 0)


def test_a_total_without_input_and_output_is_flagged_not_billed_as_thinking():
    # An emitter that read only the total (Responses usage under chat-completions names): the split is unknown.
    attributes = {"openinference.span.kind": "LLM", "llm.system": "openai", "llm.model_name": "gpt-4o-mini",
                  "llm.token_count.total": 240}
    call = extract_call(_span("t", attributes=attributes))
    assert (call.input_tokens, call.output_tokens, call.reasoning_tokens) == (0, 0, 0)
    assert "only a total of 240 tokens" in call.usage_issue
    cost = price_call(call, AT, load_price_book())
    assert (cost.status, cost.cost_usd) == ("invalid_usage", None)
    # Embeddings have no output: their total is their input.
    embedding = extract_call(_span("e", attributes={**attributes, "openinference.span.kind": "EMBEDDING",
                                                    "embedding.model_name": "text-embedding-3-small"}))
    assert (embedding.input_tokens, embedding.usage_issue) == (240, "")


def test_a_deployment_name_is_priced_through_the_response_model_and_never_silently_unpriced():
    book = load_price_book()
    deployment = replace(CALL, provider="azure.ai.openai", request_model="prod-chat",
                         response_model="gpt-4o-mini-2024-07-18")
    assert price_call(deployment, AT, book).status in ("priced", "estimated")
    unknown = price_call(replace(deployment, response_model=""), AT, book)
    assert unknown.status == "unpriced" and "prod-chat" in unknown.note


def test_thinking_and_cache_only_in_a_providers_metadata_are_read_in_its_convention():
    # Vercel AI SDK 5 with @ai-sdk/google: the span's usage is Gemini's candidates only; thoughts and the cache
    # are in the provider metadata's usageMetadata, whose total says the thoughts were beside the output.
    metadata = ('{"google":{"usageMetadata":{"cachedContentTokenCount":20,"thoughtsTokenCount":10,'
                '"promptTokenCount":120,"candidatesTokenCount":30,"totalTokenCount":160}}}')
    call = extract_call(_span("v", attributes={
        "ai.operationId": "ai.generateText.doGenerate", "ai.model.provider": "google.generative-ai",
        "ai.model.id": "gemini-2.5-flash", "ai.usage.promptTokens": 120, "ai.usage.completionTokens": 30,
        "ai.response.providerMetadata": metadata}))
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens, call.reasoning_tokens) == (120, 20, 40, 10)
    # The same SDK's OpenAI numbers already include reasoning in the output: nothing is added.
    openai = extract_call(_span("o", attributes={
        "ai.operationId": "ai.streamText.doStream", "ai.model.provider": "openai.responses",
        "ai.model.id": "gpt-4o-mini", "ai.usage.inputTokens": 200, "ai.usage.outputTokens": 40,
        "ai.usage.reasoningTokens": 10, "ai.usage.totalTokens": 240}))
    assert (openai.output_tokens, openai.reasoning_tokens) == (40, 10)


def test_a_framework_named_as_the_provider_of_a_bedrock_model_id_is_bedrock():
    # Strands names itself ("strands-agents"); the cross-region Bedrock id is priced only by hosts.
    call = replace(CALL, provider="strands-agents", request_model="us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert _with_provider(call, load_price_book()).provider == "aws.bedrock"


def test_the_project_is_read_from_the_span_its_ancestors_or_the_resource_and_the_key_id_only_from_the_receiver():
    """llm.project on the call, project.name on the app's resource (the Node tracker's projectName as Vercel
    metadata on an ancestor); the key id is the receiver's attribute, which clients cannot set (decode strips it)."""
    root = _span("root", attributes={"ai.telemetry.metadata.projectName": "node-tracker",
                                     "otel_llmcost.auth.key_id": "k1"})
    on_call = (_span("a", "root", attributes={"llm.project": "atlas"}), CALL)
    inherited = (_span("b", "root"), CALL)
    from_resource = (replace(_span("c"), resource={"project.name": "zephyr"}), CALL)
    spans = {s.span_id: s for s in (root, on_call[0], inherited[0], from_resource[0])}
    found = Attributor(DEFAULT_ATTRIBUTION_KEYS).attribute([on_call, inherited, from_resource], spans)
    assert [(a.project, a.api_key_id) for a in found] == [("atlas", "k1"), ("node-tracker", "k1"), ("zephyr", "")]
