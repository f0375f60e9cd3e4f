"""GenAI semantic-convention extraction on decoded spans: names across versions, the token convention."""

from __future__ import annotations

import pytest

from otel_llmcost.model import SpanRecord
from otel_llmcost.semconv import InvalidSpan, extract_call


def _span(attributes: dict, status_code: int = 0) -> SpanRecord:
    return SpanRecord("a" * 32, "b" * 16, "", "chat", 3, 1, 2, status_code, "", attributes, {}, "scope", "1")


def test_v141_names_with_streaming_and_service_tier():
    call = extract_call(_span({
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-5",
        "gen_ai.response.model": "gpt-5-2025-08-07", "gen_ai.response.id": "resp_1",
        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.cache_read.input_tokens": 400,
        "gen_ai.usage.output_tokens": "500", "gen_ai.usage.reasoning.output_tokens": 300.0,
        "gen_ai.request.stream": True, "gen_ai.response.time_to_first_chunk": 0.25,
        "openai.response.service_tier": "flex", "server.address": "api.openai.com",
    }))
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens, call.reasoning_tokens) == (
        1000, 400, 500, 300)
    assert (call.streaming, call.ttft_ms, call.service_tier, call.response_id) == (True, 250.0, "flex", "resp_1")


def test_deprecated_and_unreleased_names():
    old = extract_call(_span({"gen_ai.system": "az.ai.openai", "gen_ai.request.model": "gpt-4",
                              "gen_ai.usage.prompt_tokens": 10, "gen_ai.usage.completion_tokens": 2}))
    assert (old.provider, old.operation, old.input_tokens, old.output_tokens) == ("azure.ai.openai", "chat", 10, 2)
    new = extract_call(_span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                              "gen_ai.usage.input_tokens": 100, "gen_ai.usage.cache_write.input_tokens": 60}))
    assert new.cache_write_tokens == 60 and new.input_tokens == 100


def test_token_conventions():
    # Old underscore names: the emitter passed the provider's numbers through (raw Anthropic excludes
    # the cache), so a cache larger than the input means input excluded it.
    old = extract_call(_span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                              "gen_ai.usage.input_tokens": 50, "gen_ai.usage.cache_read_input_tokens": 900,
                              "gen_ai.usage.cache_creation_input_tokens": 100}))
    assert (old.input_tokens, old.cache_read_tokens, old.cache_write_tokens, old.usage_issue) == (1050, 900, 100, "")
    # v1.40 names promise input includes the cache: for a provider whose API counts inclusively the same numbers
    # are impossible, and flagged (for Anthropic / Bedrock see test_provider_rules: their raw counts exclude it).
    new = extract_call(_span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                              "gen_ai.usage.input_tokens": 50, "gen_ai.usage.cache_read.input_tokens": 900,
                              "gen_ai.usage.cache_creation.input_tokens": 100}))
    assert new.input_tokens == 50
    assert new.usage_issue == "cache tokens (1000) exceed input tokens (50) that should include them"


def test_non_calls_and_errors():
    assert extract_call(_span({"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": 5})) is None
    assert extract_call(_span({"gen_ai.operation.name": "execute_tool"})) is None
    assert extract_call(_span({"http.method": "GET"})) is None
    failed = extract_call(_span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}, status_code=2))
    assert failed.error_type == "_OTHER"
    with pytest.raises(InvalidSpan, match="is a boolean"):
        extract_call(_span({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": True}))


def test_one_hour_cache_writes_and_audio_are_parts_of_their_totals():
    native = extract_call(_span({
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.cache_write.input_tokens": 500, "gen_ai.usage.output_tokens": 5,
        "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 200,
    }))
    assert (native.cache_write_tokens, native.cache_write_1h_tokens) == (500, 200)
    audio = extract_call(_span({
        "openinference.span.kind": "LLM", "llm.system": "openai", "llm.model_name": "gpt-4o-audio-preview",
        "llm.token_count.prompt": 300, "llm.token_count.prompt_details.audio": 250,
        "llm.token_count.completion": 40, "llm.token_count.completion_details.audio": 900,
    }))
    assert (audio.audio_input_tokens, audio.audio_output_tokens) == (250, 40)  # never more than the total


def test_litellm_usage_object_gives_image_tokens_and_web_searches():
    usage = {"prompt_tokens": 1200, "completion_tokens": 4200, "prompt_tokens_details": {"image_tokens": 1000},
             "completion_tokens_details": {"image_tokens": 4160}, "server_tool_use": {"web_search_requests": 2}}
    call = extract_call(_span({"litellm.call_id": "c", "llm.request.type": "completion", "gen_ai.system": "openai",
                               "gen_ai.request.model": "gpt-image-1", "gen_ai.usage.input_tokens": 1200,
                               "gen_ai.usage.output_tokens": 4200, "metadata.usage_object": repr(usage)}))
    assert (call.dialect, call.image_input_tokens, call.image_output_tokens, call.web_searches) == (
        "litellm", 1000, 4160, 2)
