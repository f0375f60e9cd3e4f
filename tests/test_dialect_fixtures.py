"""Real libraries' OTLP (tests/fixtures/dialects, captured by scripts/capture) through the real receiver.

Each captured app ran every scenario in its own trace under an app span with request.id=<scenario>,
tenant.id=capture-tenant and feature.name=capture, against the stand-in provider whose usage is fixed
(scripts/capture/fake_provider.py USAGE). So for every library and scenario we know exactly which calls
happened and what they used: one row per real call, tokens by kind in our convention (input includes the
cache, output includes reasoning), attempts, and costs at the prices stated below.

Where a library does not report something the provider returned, the expected row says what the span
carries and a comment names the gap: we store what was reported, never a guess.

Every fixture goes through one receiver (a receiver per fixture made this file the suite's long pole), each
under a tenant of its own: its exports' tenant attributes say `capture-<fixture>` instead of capture-tenant, so
its rows are told apart from the other fixtures' (the scenarios' request ids repeat across fixtures).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import FAST_CONFIG, Receiver
from otel_llmcost.kinds import BY_RATE
from payloads import post

FIXTURES = Path(__file__).parent / "fixtures" / "dialects"

#: Prices the test states (USD per million tokens): input, cache read, cache write, output, by (provider, model).
#: OpenAI and Anthropic: their list prices. gemini-2.5-flash: Google's Gemini API paid tier (text input 0.30,
#: context cache 0.03, output incl. thinking 2.50). Claude Sonnet 4.5 on Bedrock through the us. cross-region
#: profile: AWS's on-demand list, Anthropic's prices + 10% (Bedrock names it
#: anthropic.claude-sonnet-4-5-20250929-v1:0; Traceloop drops the "us.anthropic." part).
PRICES = {
    ("openai", "gpt-4o-mini"): (Decimal("0.15"), Decimal("0.075"), None, Decimal("0.60")),
    ("openai", "text-embedding-3-small"): (Decimal("0.02"), None, None, Decimal("0")),
    ("anthropic", "claude-sonnet-4-5"): (Decimal("3"), Decimal("0.30"), Decimal("3.75"), Decimal("15")),
    ("gcp.gemini", "gemini-2.5-flash"): (Decimal("0.30"), Decimal("0.03"), None, Decimal("2.50")),
    ("aws.bedrock", "claude-sonnet-4-5"): (Decimal("3.30"), Decimal("0.33"), Decimal("4.125"), Decimal("16.50")),
    # priced by the image and by the minute of audio only (UNIT_PRICES)
    ("openai", "dall-e-3"): (Decimal(0), None, None, Decimal(0)),
    ("openai", "whisper-1"): (Decimal(0), None, None, Decimal(0)),
}
#: Units billed beside tokens (kinds.py rate -> USD per its unit): OpenAI web search tool calls $10 / 1,000 and
#: file search tool calls $2.50 / 1,000 (openai.com/api/pricing); Anthropic web search $10 / 1,000 searches
#: (docs.anthropic.com pricing); Gemini 2.5 Flash grounding with Google Search $35 / 1,000 (ai.google.dev/pricing,
#: billed per grounded prompt, however many queries it ran: `once_per_call`, docs/dialects.md); DALL-E 3 standard
#: 1024x1024 $0.04 an image, whisper-1 $0.006 a minute (openai.com/api/pricing).
UNIT_PRICES = {
    ("openai", "gpt-4o-mini"): {"per_search": Decimal("0.01"), "per_1k_file_searches": Decimal("2.50")},
    ("anthropic", "claude-sonnet-4-5"): {"per_search": Decimal("0.01")},
    ("gcp.gemini", "gemini-2.5-flash"): {"per_search": Decimal("0.035")},
    ("openai", "dall-e-3"): {"per_image": Decimal("0.04")},
    ("openai", "whisper-1"): {"per_audio_minute": Decimal("0.006")},
}
ONCE_PER_CALL = {("gcp.gemini", "gemini-2.5-flash"): "per_search"}
#: The unit counts of the calls that ran server-side tools: (fixture, scenario) -> counts. Every other row has none.
UNITS = {
    **{("server-tools-openinference", name): {"web_searches": 2}
       for name in ("responses_web_search", "responses_web_search_stream", "anthropic_web_search",
                    "gemini_grounding")},
    ("server-tools-openinference", "responses_file_search"): {"file_searches": 2},
    ("litellm-media", "image_generation"): {"images": 2},
    # 94.2 s of audio: OpenAI's usage reports the 95 seconds it bills
    **{("litellm-media", name): {"audio_seconds": 95} for name in ("transcription", "transcription_verbose")},
}
UNIT_COUNTS = ("web_searches", "file_searches", "images", "audio_seconds")
#: Providers that sell the same model at the same price (Azure OpenAI's global deployments: OpenAI's list).
SAME_PRICE = {"azure.ai.openai": "openai"}
PATTERNS = {"aws.bedrock": "(us\\.)?(anthropic\\.)?{model}(-.*)?"}
PRICE_BOOK = "version: fixture-prices\nprices:\n" + "".join(
    f"  - {{provider: [{', '.join([provider, *(k for k, v in SAME_PRICE.items() if v == provider)])}], "
    f"models: [{model}], pattern: '{PATTERNS.get(provider, '{model}(-.*)?').format(model=model)}', "
    f"effective_from: 2020-01-01, input: '{p[0]}', output: '{p[3]}'"
    + (f", cache_read: '{p[1]}'" if p[1] is not None else "")
    + (f", cache_write: '{p[2]}'" if p[2] is not None else "")
    + "".join(f", {rate}: '{price}'" for rate, price in UNIT_PRICES.get((provider, model), {}).items())
    + (f", once_per_call: [{ONCE_PER_CALL[provider, model]}]" if (provider, model) in ONCE_PER_CALL else "")
    + "}\n"
    for (provider, model), p in PRICES.items()
)

# Usage of the stand-in's answers, as (input incl. cache, cache read, cache write, output incl. reasoning,
# reasoning).
CHAT = (120, 20, 0, 30, 0)
STREAM = (80, 0, 0, 12, 0)
EMBED = (16, 0, 0, 0, 0)
RESPONSES = (200, 50, 0, 40, 10)
MESSAGES = (450, 300, 50, 25, 0)
NOTHING = (0, 0, 0, 0, 0)
# Gemini (stand_in_gemini.USAGE): prompt incl. cached, candidates + thoughts as output incl. reasoning.
GEMINI = (120, 20, 0, 40, 10)
GEMINI_STREAM = (80, 0, 0, 16, 4)
# Bedrock Converse (stand_in_bedrock.USAGE) and InvokeModel for Claude: the Anthropic numbers, made inclusive.
BEDROCK = MESSAGES


def ok(usage, operation="chat", attempt=1):
    return (attempt, "ok", operation, *usage)


def failed(attempt=1, operation="chat"):
    return (attempt, "error", operation, *NOTHING)


def retried(usage):
    """The app's own retry loop: a rate-limited try, then a good one."""
    return [failed(1), ok(usage, attempt=2)]


EXPECTED: dict[str, dict[str, list[tuple]]] = {
    "openai-v2": {
        # The contrib instrumentation records neither cached tokens nor streaming on chat spans, and makes no span
        # for the Responses API (responses, responses_stream, responses_reasoning are lost at the source).
        "chat": [ok((120, 0, 0, 30, 0))], "chat_stream": [ok(STREAM)], "embeddings": [ok(EMBED, "embeddings")],
        "rate_limited_retry": retried((120, 0, 0, 30, 0)), "sdk_retry": [ok((120, 0, 0, 30, 0))],
        "failed": [failed()], "tool_loop": [ok((120, 0, 0, 30, 0))] * 3,
    },
    "openinference-openai": {
        "chat": [ok(CHAT)], "chat_stream": [ok(STREAM)], "embeddings": [ok(EMBED, "embeddings")],
        **{name: [ok(RESPONSES)] for name in ("responses", "responses_stream", "responses_reasoning")},
        "rate_limited_retry": retried(CHAT), "sdk_retry": [ok(CHAT)], "failed": [failed()],
        "tool_loop": [ok(CHAT)] * 3,
    },
    "openinference-anthropic": {
        "messages": [ok(MESSAGES)], "messages_stream": [ok(MESSAGES)], "messages_stream_raw": [ok(MESSAGES)],
        "rate_limited_retry": retried(MESSAGES), "sdk_retry": [ok(MESSAGES)], "failed": [failed()],
        "thinking": [ok(MESSAGES)], "tool_loop": [ok(MESSAGES)] * 3,
    },
    "anthropic-native": {
        # thinking: Anthropic counts the thinking inside output_tokens and reports no count of it.
        "messages": [ok(MESSAGES)], "messages_stream": [ok(MESSAGES)], "messages_stream_raw": [ok(MESSAGES)],
        "rate_limited_retry": retried(MESSAGES), "sdk_retry": [ok(MESSAGES)], "failed": [failed()],
        "thinking": [ok(MESSAGES)], "tool_loop": [ok(MESSAGES)] * 3,
    },
    "traceloop-openai": {
        "chat": [ok(CHAT)], "chat_stream": [ok(STREAM)], "embeddings": [ok(EMBED, "embeddings")],
        **{name: [ok(RESPONSES)] for name in ("responses", "responses_stream", "responses_reasoning")},
        "rate_limited_retry": retried(CHAT), "sdk_retry": [ok(CHAT)], "failed": [failed()],
        "tool_loop": [ok(CHAT)] * 3,
    },
    "traceloop-anthropic": {
        # Streams: the instrumentation adds message_start's output count (1) to the final one (25).
        "messages": [ok(MESSAGES)], "messages_stream": [ok((450, 300, 50, 26, 0))],
        "messages_stream_raw": [ok((450, 300, 50, 26, 0))], "rate_limited_retry": retried(MESSAGES),
        "sdk_retry": [ok(MESSAGES)], "failed": [failed()], "thinking": [ok(MESSAGES)],
        "tool_loop": [ok(MESSAGES)] * 3,
    },
    "traceloop-openai-legacy": {
        # 0.47.5 makes no span at all for a streamed Responses call: that call is lost at the source.
        "chat": [ok(CHAT)], "chat_stream": [ok(STREAM)], "embeddings": [ok(EMBED, "embeddings")],
        "responses": [ok(RESPONSES)], "rate_limited_retry": retried(CHAT), "sdk_retry": [ok(CHAT)],
    },
    "traceloop-sdk-openai": {
        "chat": [ok(CHAT)], "chat_stream": [ok(STREAM)], "association_properties": [ok(CHAT)],
        "workflow": [ok(CHAT), ok(EMBED, "embeddings")],
    },
    "openlit": {
        # OpenLIT's Anthropic streams lose the cache counts (it keeps message_delta's usage only).
        "chat": [ok(CHAT)], "chat_stream": [ok(STREAM)], "embeddings": [ok(EMBED, "embeddings")],
        "responses": [ok(RESPONSES)], "rate_limited_retry": retried(CHAT), "sdk_retry": [ok(CHAT)],
        "messages": [ok(MESSAGES)], "messages_stream": [ok((100, 0, 0, 25, 0))],
        "messages_stream_raw": [ok((100, 0, 0, 25, 0))], "anthropic_rate_limited_retry": retried(MESSAGES),
        **{name: [ok(RESPONSES)] for name in ("responses_stream", "responses_reasoning")},
        "failed": [failed()], "tool_loop": [ok(CHAT)] * 3, "anthropic_failed": [failed()],
        "anthropic_thinking": [ok(MESSAGES)], "anthropic_tool_loop": [ok(MESSAGES)] * 3,
    },
    "litellm": {
        # Cache counts come from LiteLLM's usage_object; the retry is the app's own loop.
        "chat": [ok(CHAT)], "chat_stream": [ok(STREAM)], "embeddings": [ok(EMBED, "embeddings")],
        "anthropic_messages": [ok(MESSAGES)], "rate_limited_retry": retried(CHAT),
        # LiteLLM's own retry (num_retries): its callback logs only the try that succeeded.
        "framework_retry": [ok(CHAT)], "tool_loop": [ok(CHAT)] * 3, "failed": [failed()],
    },
    "litellm-active-span": {
        # LiteLLM's default stamps both tries of the retry onto the one app span: one call is all it shows.
        "chat": [ok(CHAT)], "embeddings": [ok(EMBED, "embeddings")], "anthropic_messages": [ok(MESSAGES)],
        "rate_limited_retry": [ok(CHAT)],
    },
    "langfuse": {
        "generation": [ok(MESSAGES)], "generation_anthropic_keys": [ok(MESSAGES)],
        "embedding": [ok(EMBED, "embeddings")],
        "openai_integration": [ok(CHAT)], "openai_integration_stream": [ok(STREAM)],
        "openai_integration_embeddings": [ok(EMBED, "embeddings")],
        "openai_integration_rate_limited_retry": retried(CHAT),
    },
    "pydantic-ai": {
        "agent_run": [ok(CHAT)], "agent_run_responses": [ok(RESPONSES)], "agent_tool_loop": [ok(CHAT), ok(CHAT)],
        "anthropic_run": [ok(MESSAGES)], "stream": [ok(STREAM)], "model_error": [failed()],
        # The app runs the agent again after the 429: a new agent run, so a new call (attempt 1).
        "rate_limited_retry": [failed(), ok(CHAT)], "sdk_retry": [ok(CHAT)], "reasoning": [ok(RESPONSES)],
        "tool_loop": [ok(CHAT)] * 3, "failed": [failed()],
    },
    "vercel-ai": {
        # v7's OpenTelemetry integration does not report reasoning tokens (they stay inside output).
        "generate_text": [ok((200, 50, 0, 40, 0))], "generate_text_chat": [ok(CHAT)],
        "stream_text": [ok((200, 50, 0, 40, 0))], "stream_text_chat": [ok(STREAM)],
        "embed": [ok(EMBED, "embeddings")], "generate_text_anthropic": [ok(MESSAGES)],
        "tool_loop": [ok((200, 50, 0, 40, 0)), ok((200, 50, 0, 40, 0))],
        "rate_limited_retry": [ok((200, 50, 0, 40, 0))],  # the SDK retried inside one span
        "rate_limited_error": [failed()],
    },
    "vercel-ai-legacy": {
        "generate_text": [ok(RESPONSES)], "generate_text_chat": [ok(CHAT)], "stream_text": [ok(RESPONSES)],
        "stream_text_chat": [ok(STREAM)], "embed": [ok(EMBED, "embeddings")],
        "generate_text_anthropic": [ok(MESSAGES)], "tool_loop": [ok(RESPONSES), ok(RESPONSES)],
        "rate_limited_retry": [ok(RESPONSES)], "rate_limited_error": [failed()],
    },
    "vercel-ai-v4": {
        "generate_text": [ok(CHAT)], "generate_text_responses": [ok(RESPONSES)], "stream_text": [ok(STREAM)],
        "stream_text_responses": [ok(RESPONSES)], "embed": [ok(EMBED, "embeddings")],
        "generate_text_anthropic": [ok(MESSAGES)], "tool_loop": [ok(CHAT), ok(CHAT)],
        "rate_limited_retry": retried(CHAT),  # v4 shows the SDK's own retry as a second span
        "rate_limited_error": [failed()],
    },
    "google-genai-otel": {
        # Automatic function calling: the SDK calls the model three times inside one generate_content, and the
        # instrumentation makes one span with the last answer's usage: two calls are lost at the source.
        **{name: [ok(GEMINI, "generate_content")]
           for name in ("generate", "cached", "thinking", "tool_loop", "sdk_retry")},
        "stream": [ok(GEMINI_STREAM, "generate_content")],
        "rate_limited_retry": [failed(1, "generate_content"), ok(GEMINI, "generate_content", attempt=2)],
        "failed": [failed(1, "generate_content")],
    },
    "bedrock-openinference": {
        **{name: [ok(BEDROCK)] for name in ("converse", "converse_stream", "invoke_model", "reasoning", "sdk_retry")},
        # Its InvokeModel stream sums the prompt but drops the cache details: priced as uncached input.
        "invoke_model_stream": [ok((450, 0, 0, 25, 0))],
        "tool_loop": [ok(BEDROCK)] * 3, "rate_limited_retry": retried(BEDROCK), "failed": [failed()],
    },
    "strands-agents": {
        # Strands names itself as the provider ("strands-agents"): the Bedrock model id finds aws.bedrock.
        **{name: [ok(BEDROCK)] for name in ("invoke", "non_streaming", "reasoning")},
        "tool_loop": [ok(BEDROCK)] * 3,
        # Strands' ModelRetryStrategy: the throttled try and its retry are siblings under one event loop cycle.
        "framework_retry": [failed(1), ok(BEDROCK, attempt=2)],
        # The app runs the agent again: a new cycle, so a new call.
        "rate_limited_retry": [failed(1), ok(BEDROCK)],
        "failed": [failed()],
        # Its OpenAI model streams chat completions.
        "openai": [ok(STREAM)], "openai_tool_loop": [ok(STREAM)] * 3,
    },
    "vercel-ai-v5": {
        # v5's doGenerate spans carry only prompt and completion tokens for OpenAI (no cache or reasoning
        # details; its providerMetadata has only the response id); its doStream spans carry them.
        **{name: [ok((200, 0, 0, 40, 0))] for name in ("generate_text", "reasoning")},
        "stream_text": [ok(RESPONSES)], "tool_loop": [ok((200, 0, 0, 40, 0))] * 3,
        # Gemini: completionTokens are the candidates only; the thoughts and the cache are read from Gemini's
        # usageMetadata in ai.response.providerMetadata.
        "gemini": [ok(GEMINI)], "gemini_thinking": [ok(GEMINI)], "gemini_stream": [ok(GEMINI_STREAM)],
        "gemini_tool_loop": [ok(GEMINI)] * 3, "failed": [failed()],
        "rate_limited_retry": [failed(1), ok((200, 0, 0, 40, 0), attempt=2)], "rate_limited_error": [failed()],
    },
    "google-adk": {
        # ADK's own GenAI spans (gcp.vertex.agent): generate_content per model call, provider gcp.gemini, no
        # retry of its own (the 429 fails the run).
        "run": [ok(GEMINI, "generate_content")], "thinking": [ok(GEMINI, "generate_content")],
        "tool_loop": [ok(GEMINI, "generate_content")] * 3,
        "rate_limited": [failed(1, "generate_content")], "failed": [failed(1, "generate_content")],
    },
    "dspy-openinference": {
        # DSPy's LM span and LiteLLM's span of each call merge (nested; "openai/gpt-4o-mini" is gpt-4o-mini).
        "call": [ok(CHAT)], "messages": [ok(CHAT)], "responses": [ok(RESPONSES)],
        # LiteLLM's own retry inside DSPy's LM call: its failed try sits beside the merged call, attempts 1, 2.
        "sdk_retry": retried(CHAT), "rate_limited_retry": retried(CHAT), "failed": [failed()],
    },
    "llamaindex-openinference": {
        "chat": [ok(CHAT)], "complete": [ok(CHAT)], "stream": [ok(STREAM)], "sdk_retry": [ok(CHAT)],
        # LlamaIndex's OpenAIResponses usage drops the cache and reasoning details.
        "reasoning": [ok((200, 0, 0, 40, 0))],
        # The FunctionAgent streams; each step's _prepare_chat_with_tools LLM span is preparation, not a call.
        "tool_loop": [ok(STREAM)] * 3,
        "rate_limited_retry": retried(CHAT), "failed": [failed()],
    },
    "openai-agents-openinference": {
        **{name: [ok(RESPONSES)] for name in ("run", "reasoning", "stream", "sdk_retry")},
        # The SDK's chat-completions model: its usage object drops the cached count.
        "run_chat_completions": [ok((120, 0, 0, 30, 0))],
        "tool_loop": [ok(RESPONSES)] * 3,
        # The runner's own retry: the failed try (no model on its span) and the retry beside it.
        "runner_retry": [failed(1), ok(RESPONSES, attempt=2)],
        # The app re-runs the whole agent: a new run, so a new call (attempt 1), after the failed one.
        "rate_limited_retry": [failed(1), ok(RESPONSES)],
        "failed": [failed()],
    },
    "langchain-openinference": {
        "invoke": [ok(CHAT)], "stream": [ok(STREAM)], "reasoning": [ok(RESPONSES)], "sdk_retry": [ok(CHAT)],
        "tool_loop": [ok(CHAT)] * 3, "framework_retry": retried(CHAT), "rate_limited_retry": retried(CHAT),
        "failed": [failed()],
        # No "embeddings": the LangChain instrumentation makes no span for OpenAIEmbeddings.
    },
    "azure-openai-v2": {
        # The deployment name is the request model; the response names the model, which prices the call.
        "chat": [ok((120, 0, 0, 30, 0))], "chat_stream": [ok(STREAM)], "embeddings": [ok(EMBED, "embeddings")],
        "rate_limited_retry": retried((120, 0, 0, 30, 0)), "sdk_retry": [ok((120, 0, 0, 30, 0))],
        "tool_loop": [ok((120, 0, 0, 30, 0))] * 3, "failed": [failed()],
    },
}
# Calls that ran server-side tools (_server_tools.py); their unit counts are in UNITS. OpenInference keeps them
# only in output.value, the provider's response.
EXPECTED["server-tools-openinference"] = {
    **{name: [ok(RESPONSES)] for name in ("responses_web_search", "responses_web_search_stream",
                                          "responses_file_search")},
    "anthropic_web_search": [ok(MESSAGES)], "gemini_grounding": [ok(GEMINI)],
}
# Traceloop 0.62.4 reports none of the searches (no count, no web_search_call item in gen_ai.output.messages): the
# rows have the tokens only, and the searches are lost at the source.
EXPECTED["server-tools-traceloop"] = {**EXPECTED["server-tools-openinference"],
                                      "gemini_grounding": [ok(GEMINI, "generate_content")]}
# LiteLLM's image generation and transcription: no tokens, priced by the image and the second (UNITS).
EXPECTED["litellm-media"] = {"image_generation": [ok(NOTHING, "image_generation")],
                             **{name: [ok(NOTHING, "transcription")]
                                for name in ("transcription", "transcription_verbose")}}
# Variants: the same calls seen through other settings of the same library must give the same rows.
EXPECTED["openinference-anthropic-with-native"] = EXPECTED["openinference-anthropic"]
# With the SDK's own spans beside Traceloop's, the SDK's exact stream counts win over Traceloop's off-by-one.
EXPECTED["traceloop-anthropic-with-native"] = {**EXPECTED["traceloop-anthropic"], **{
    name: [ok(MESSAGES)] for name in ("messages_stream", "messages_stream_raw")}}
EXPECTED["pydantic-ai-summed-usage"] = EXPECTED["pydantic-ai"]
# Captured before litellm.py gained its failed, framework-retry and tool-loop scenarios.
EXPECTED["litellm-semconv"] = {name: EXPECTED["litellm"][name] for name in
                               ("chat", "chat_stream", "embeddings", "anthropic_messages", "rate_limited_retry")}
# The app's openai-v2 span and the proxy's litellm_request for each call: one row, the proxy's provider.
EXPECTED["litellm-proxy"] = EXPECTED["litellm-semconv"]
EXPECTED["pydantic-ai-format2"] = EXPECTED["pydantic-ai"]
EXPECTED["vercel-ai-supplemental"] = {**EXPECTED["vercel-ai"], **{
    name: [ok(RESPONSES)] * len(EXPECTED["vercel-ai"][name])
    for name in ("generate_text", "stream_text", "tool_loop", "rate_limited_retry")
}}

# The same scenarios through other instrumentations. Differences are what those spans carry, named here.
EXPECTED["google-genai-openinference"] = {**EXPECTED["google-genai-otel"], **{
    name: [(a, s, "chat", *u) for a, s, _, *u in rows] for name, rows in EXPECTED["google-genai-otel"].items()}}
# Traceloop drops thoughtsTokenCount but keeps the total: the thinking is the gap (rule: docs/dialects.md).
EXPECTED["google-genai-traceloop"] = EXPECTED["google-genai-otel"]
# Traceloop's Bedrock passes Converse's exclusive inputTokens under the inclusive names: read by the numbers.
EXPECTED["bedrock-traceloop"] = {**EXPECTED["bedrock-openinference"], "invoke_model_stream": [ok((100, 0, 0, 25, 0))]}
EXPECTED["openai-agents-traceloop"] = {**EXPECTED["openai-agents-openinference"],
                                       "run_chat_completions": [ok(NOTHING)]}  # its chat-completions span has no usage
# Logfire keeps the reasoning count only inside its usage JSON; its chat-completions span drops the cache.
EXPECTED["openai-agents-logfire"] = {**EXPECTED["openai-agents-openinference"], **{
    name: [ok((200, 50, 0, 40, 0))] * len(EXPECTED["openai-agents-openinference"][name])
    for name in ("run", "reasoning", "stream", "sdk_retry", "tool_loop")},
    "runner_retry": [failed(1), ok((200, 50, 0, 40, 0), attempt=2)],
    "rate_limited_retry": [failed(1), ok((200, 50, 0, 40, 0))]}
# With the OpenAI instrumentation beside LangChain's: one row per call. The OpenAI spans hang off the app span
# beside LangChain's (siblings, or cousins under with_retry's span): they merge, at LangChain's place.
# The OpenAI instrumentation also sees OpenAIEmbeddings' call, which the LangChain instrumentations do not.
EXPECTED["langchain-openinference-with-openai"] = {**EXPECTED["langchain-openinference"],
                                                   "embeddings": [ok(EMBED, "embeddings")]}
# The deployment name is the requested model (in llm.invocation_parameters); the response model prices the call.
EXPECTED["azure-openai-openinference"] = {
    "chat": [ok(CHAT)], "chat_stream": [ok(STREAM)], "embeddings": [ok(EMBED, "embeddings")],
    "responses": [ok(RESPONSES)], "responses_reasoning": [ok(RESPONSES)], "rate_limited_retry": retried(CHAT),
    "sdk_retry": [ok(CHAT)], "tool_loop": [ok(CHAT)] * 3, "failed": [failed()],
}
# Traceloop's LangChain instrumentation does not report reasoning tokens.
EXPECTED["langchain-traceloop"] = {**EXPECTED["langchain-openinference"], "reasoning": [ok((200, 50, 0, 40, 0))]}
EXPECTED["langchain-traceloop-with-openai"] = EXPECTED["langchain-openinference-with-openai"]

# Haystack 3 with OpenInference's Haystack instrumentation: no cache counts (it reads only prompt and completion
# tokens); the Responses generator's usage (input_tokens / output_tokens) leaves it only the total, so the split
# is unknown: a flagged row (COST_STATUS), not a guess. The app's retry re-runs the pipeline: new pipeline
# spans, so a new call (attempt 1), as for agents.
NO_CACHE = (120, 0, 0, 30, 0)
EXPECTED["haystack-openinference"] = {
    "pipeline": [ok(NO_CACHE)], "generator": [ok(NO_CACHE)], "stream": [ok(STREAM)], "reasoning": [ok(NOTHING)],
    "tool_loop": [ok(NO_CACHE)] * 3, "sdk_retry": [ok(NO_CACHE)], "rate_limited_retry": [failed(), ok(NO_CACHE)],
    "failed": [failed()],
}
# With the same family's OpenAI instrumentation beside it: the provider span (below the generator's) has it all.
EXPECTED["haystack-openinference-with-openai"] = {
    "pipeline": [ok(CHAT)], "generator": [ok(CHAT)], "stream": [ok(STREAM)], "reasoning": [ok(RESPONSES)],
    "tool_loop": [ok(CHAT)] * 3, "sdk_retry": [ok(CHAT)], "rate_limited_retry": [failed(), ok(CHAT)],
    "failed": [failed()],
}
# Traceloop's Haystack instrumentation (0.62.4 needs Haystack 2: it wraps OpenAIGenerator, gone in 3) names no
# model and no usage, and makes no span for the Responses generator: one unpriced row per call, said so.
EXPECTED["haystack-traceloop"] = {
    **{name: [ok(NOTHING)] for name in ("pipeline", "generator", "stream", "sdk_retry")},
    "tool_loop": [ok(NOTHING)] * 3, "rate_limited_retry": [failed(), ok(NOTHING)], "failed": [failed()],
}
EXPECTED["haystack-traceloop-with-openai"] = EXPECTED["haystack-openinference-with-openai"]
# Semantic Kernel's own GenAI diagnostics: input and output only (no cache count, no response model); the
# Responses agent makes no model-call span (its invoke_agent span has no usage): that call is lost at the source.
EXPECTED["semantic-kernel"] = {
    **{name: [ok(NO_CACHE)] for name in ("invoke_prompt", "chat", "sdk_retry")}, "stream": [ok(STREAM)],
    "tool_loop": [ok(NO_CACHE)] * 3, "rate_limited_retry": retried(NO_CACHE), "failed": [failed()],
}
# With Traceloop's OpenAI instrumentation beside it: SK's span and the provider span merge (same response id).
EXPECTED["semantic-kernel-with-openai"] = {
    **{name: [ok(CHAT)] for name in ("invoke_prompt", "chat", "sdk_retry")}, "stream": [ok(STREAM)],
    "reasoning": [ok(RESPONSES)], "tool_loop": [ok(CHAT)] * 3, "rate_limited_retry": retried(CHAT),
    "failed": [failed()],
}

# AutoGen AgentChat 0.7 with OpenInference's AutoGen instrumentation (the model client's create / create_stream):
# no cache counts; autogen-ext's OpenAIAgent (the Responses API) makes no model-call span: lost at the source.
# AutoGen's own spans (create_agent, invoke_agent, execute_tool: gen_ai.system "autogen") are never calls. The
# app's retry runs the agent again: a new invoke_agent, so a new call (attempt 1).
EXPECTED["autogen-openinference"] = {
    **{name: [ok(NO_CACHE)] for name in ("agent_run", "model_client", "sdk_retry")}, "stream": [ok(STREAM)],
    "tool_loop": [ok(NO_CACHE)] * 3, "rate_limited_retry": [failed(), ok(NO_CACHE)], "failed": [failed()],
}
# AutoGen's own spans with Traceloop's OpenAI instrumentation (AutoGen's documented pairing): every call whole.
EXPECTED["autogen-traceloop"] = {
    **{name: [ok(CHAT)] for name in ("agent_run", "model_client", "sdk_retry")}, "stream": [ok(STREAM)],
    "reasoning": [ok(RESPONSES)], "tool_loop": [ok(CHAT)] * 3, "rate_limited_retry": [failed(), ok(CHAT)],
    "failed": [failed()],
}

# CrewAI 1.15 (its native OpenAI provider) with OpenInference's CrewAI instrumentation (crews, tasks, tools) and
# its OpenAI instrumentation for the calls, as its docs pair them. CrewAI retries a 429 itself: the failed try and
# the retry are siblings under the task span (attempts 1, 2); the app never sees the 429.
EXPECTED["crewai-openinference"] = {
    **{name: [ok(CHAT)] for name in ("crew", "llm_call", "sdk_retry")}, "stream": [ok(STREAM)],
    "reasoning": [ok(RESPONSES)], "tool_loop": [ok(CHAT)] * 3, "framework_retry": retried(CHAT),
    "failed": [failed()],
}
EXPECTED["crewai-traceloop-with-openai"] = EXPECTED["crewai-openinference"]
# Traceloop's CrewAI instrumentation alone wraps LLM.call, which CrewAI 1.x's native providers never go through:
# its crew, task and agent spans (gen_ai.operation.name invoke_agent, provider "crewai", a model, no usage) are
# not calls, so nothing is billed: every call is lost at the source.
EXPECTED["crewai-traceloop"] = {}

#: Rows that must not be priced, and why: (fixture, scenario) -> (cost_status, words of cost_note). Every other
#: row is priced at the stated prices.
COST_STATUS = {
    ("haystack-openinference", "reasoning"): ("invalid_usage", "only a total of 240 tokens"),
    **{("haystack-traceloop", name): ("unpriced", "no model name")
       for name in ("pipeline", "generator", "stream", "sdk_retry", "tool_loop", "rate_limited_retry")},
}

#: Dimensions each library's own mechanism carried: (fixture, scenario) -> (user, session, feature, metadata).
DIMENSIONS = {
    ("traceloop-sdk-openai", "association_properties"): ("user-42", "session-1", "capture", {"customer_id": "cust-3"}),
    # @conversation gives gen_ai.conversation.id, which wins over the association property's session.
    ("traceloop-sdk-openai", "workflow"): ("user-7", "conv-123", "capture", {}),
    ("vercel-ai", "generate_text"): ("u-1", "s-1", "capture", {"tenant": "capture-vercel-ai"}),
    ("vercel-ai-legacy", "generate_text"): ("u-1", "s-1", "capture", {"tenant": "capture-vercel-ai-legacy"}),
    ("vercel-ai-v4", "generate_text"): ("u-1", "s-1", "capture", {"tenant": "capture-vercel-ai-v4"}),
    ("langfuse", "generation"): ("user-42", "session-1", "capture", {"customer_id": "cust-3"}),
    ("langfuse", "openai_integration"): ("user-7", "session-2", "capture", {}),
}
TAGS = {("langfuse", "generation"): ["capture", "manual"]}

#: What the instrumentation reported as the call's cost, kept apart from ours: (fixture, scenario) -> USD, at the
#: store's 12 decimal places (LiteLLM reports the float 0.0009525000000000001).
EMITTER_COSTS = {("openlit", "chat"): "0.0000345", ("pydantic-ai", "agent_run"): "0.0000345",
                 ("litellm", "anthropic_messages"): "0.0009525", ("langfuse", "generation"): "0.0009525",
                 ("openlit", "messages"): "0.0009525", ("pydantic-ai", "anthropic_run"): "0.0009525"}

ROWS = """
SELECT emitter_cost_usd, tags, user_id, session_id, feature, metadata, request_id, attempt, status, operation, \
input_tokens, cache_read_tokens, cache_write_tokens,
       output_tokens, reasoning_tokens, provider, request_model, response_model, cost_usd, cost_status, cost_note,
       tenant_id, instrumentation, web_searches, file_searches, images, audio_seconds
FROM llmcost.llm_usage ORDER BY tenant_id, request_id, ts, attempt
"""


def _expected_cost(key: tuple[str, str], usage: tuple, units: dict[str, int]) -> Decimal:
    price_in, price_read, price_write, price_out = PRICES[key]
    total_in, read, write, total_out, _ = usage
    per_token = ((total_in - read - write) * price_in + read * (price_read if price_read is not None else price_in)
                 + write * (price_write if price_write is not None else price_in) + total_out * price_out)
    fees = Decimal(0)
    for rate, price in UNIT_PRICES.get(key, {}).items():
        count = units.get(BY_RATE[rate].count, 0)
        count = min(count, 1) if ONCE_PER_CALL.get(key) == rate else count
        fees += count * price / BY_RATE[rate].per
    return per_token / Decimal(1_000_000) + fees


def _fixtures() -> list[str]:
    return sorted(path.stem for path in FIXTURES.glob("*.json"))


def _tenant(name: str) -> str:
    return f"capture-{name}"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> dict[str, list[dict]]:
    """Every fixture's exports through one receiver, each fixture under its own tenant: its rows, by tenant.

    The flush tick never comes during the replay: the traces are released by the stop, each with every one of
    its exports (all of them have their root). Released at a tick between two exports, a call seen by an app
    and by the proxy it called (litellm-proxy) or by two instrumentations (openai-agents-logfire) would be
    split from the span that merges into it, and how loaded the machine is would decide."""
    root = tmp_path_factory.mktemp("dialects")
    prices = root / "prices.yaml"
    prices.write_text(PRICE_BOOK)
    receiver = Receiver(root / "data", {
        **FAST_CONFIG, "pricing": {"price_books": [str(prices)]}, "store": {"flush_interval_seconds": 3600.0},
        "attribution": {"trace_wait_seconds": 3600.0, "max_trace_wait_seconds": 3600.0}}).start()
    try:
        for name in _fixtures():
            for export in json.loads((FIXTURES / f"{name}.json").read_text())["exports"]:
                body = json.dumps(export).replace('"capture-tenant"', json.dumps(_tenant(name)))
                status, _, answer = post(receiver.http_url, body.encode(), "application/json")
                assert status == 200, (name, answer)
        receiver.stop()
    finally:
        if receiver.process.poll() is None:
            receiver.kill()
    by_tenant: dict[str, list[dict]] = {}
    for row in receiver.sql(ROWS):
        by_tenant.setdefault(row["tenant_id"], []).append(row)
    return by_tenant


def test_every_fixture_has_expectations():
    assert set(_fixtures()) == set(EXPECTED)


def test_every_row_has_its_fixture_tenant(replayed):
    assert set(replayed) <= {_tenant(name) for name in _fixtures()}


@pytest.mark.parametrize("name", _fixtures())
def test_fixture_rows(name, replayed):
    fixture = json.loads((FIXTURES / f"{name}.json").read_text())
    rows = replayed.get(_tenant(name), [])
    by_scenario: dict[str, list[tuple]] = {}
    for row in rows:
        by_scenario.setdefault(row["request_id"], []).append(
            (row["attempt"], row["status"], row["operation"], row["input_tokens"], row["cache_read_tokens"],
             row["cache_write_tokens"], row["output_tokens"], row["reasoning_tokens"]))
    assert by_scenario == EXPECTED[name], f"{fixture['package']} {fixture['version']}"

    for (fixture_name, scenario), (user, session, feature, metadata) in DIMENSIONS.items():
        if fixture_name == name:
            for row in (r for r in rows if r["request_id"] == scenario):
                assert (row["user_id"], row["session_id"], row["feature"]) == (user, session, feature)
                assert metadata.items() <= row["metadata"].items()
    for (fixture_name, scenario), tags in TAGS.items():
        if fixture_name == name:
            assert [r["tags"] for r in rows if r["request_id"] == scenario] == [tags]
    for (fixture_name, scenario), reported in EMITTER_COSTS.items():
        if fixture_name == name:
            [row] = [r for r in rows if r["request_id"] == scenario]
            assert Decimal(row["emitter_cost_usd"]) == Decimal(reported)
    for row in rows:
        if (name, row["request_id"]) in COST_STATUS and row["status"] == "ok":
            status, words = COST_STATUS[name, row["request_id"]]
            assert (row["cost_status"], row["cost_usd"]) == (status, None) and words in row["cost_note"], row
            continue
        if row["status"] == "error" and not (row["input_tokens"] or row["output_tokens"]):
            # A failed try that used nothing costs nothing, with or without a model (or a deployment name).
            assert (row["cost_status"], Decimal(row["cost_usd"])) == ("priced", Decimal(0)), row
            continue
        provider = SAME_PRICE.get(row["provider"], row["provider"])
        key = next(k for k in PRICES if k[0] == provider and k[1] in (row["response_model"] or row["request_model"]))
        usage = (row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"], row["output_tokens"], 0)
        units = UNITS.get((name, row["request_id"]), {})
        assert {c: row[c] for c in UNIT_COUNTS} == {c: units.get(c, 0) for c in UNIT_COUNTS}, row
        assert (row["cost_status"], Decimal(row["cost_usd"])) == ("priced", _expected_cost(key, usage, units)), row
