"""Vercel AI SDK spans, v4 to v7: `ai.operationId` spans, and v7's GenAI-semconv spans (scope `gen_ai`).

Docs: https://ai-sdk.dev/docs/ai-sdk-core/telemetry
Only the provider calls (`ai.*.doGenerate`, `ai.*.doStream`, `ai.*.doEmbed`) are calls; the outer
`ai.generateText` / `ai.streamText` / `ai.embed` spans carry the sum of their steps and are never billed.
In v7's semconv spans, `invoke_agent` and `step` sum their calls and `chat`/`embeddings` are the calls;
with supplemental usage on, they also carry the ai.usage.* details (reasoning tokens among them).
v6+ count input inclusive of the cache (`inputTokenDetails` spells it out); v4 and v5 passed the provider's own
numbers (Anthropic's input excludes the cache; Gemini's output excludes its thoughts) and reported cache and
thinking tokens only inside the `ai.response.providerMetadata` JSON (Gemini: its usageMetadata), which we read
as a fallback, in the provider's own convention (a total that adds them says they were excluded).
"""

from __future__ import annotations

from dataclasses import replace

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv import genai
from otel_llmcost.semconv.fields import EXCLUSIVE, INCLUSIVE, UNKNOWN, Fields, read_call
from otel_llmcost.semconv.providers import normalize_provider
from otel_llmcost.semconv.server_tools import unit_counts
from otel_llmcost.semconv.values import json_value, text

NAME = "vercel-ai"

FIELDS = Fields(
    request_model=("gen_ai.request.model", "ai.model.id"),
    response_model=("gen_ai.response.model", "ai.response.model"),
    response_id=("gen_ai.response.id", "ai.response.id"),
    input=("ai.usage.inputTokens", "ai.usage.promptTokens", "gen_ai.usage.input_tokens", "ai.usage.tokens"),
    output=("ai.usage.outputTokens", "ai.usage.completionTokens", "gen_ai.usage.output_tokens"),
    cache_read=("ai.usage.inputTokenDetails.cacheReadTokens", "ai.usage.cachedInputTokens",
                "gen_ai.usage.cache_read.input_tokens", "providerMetadata.cacheRead"),
    cache_write=("ai.usage.inputTokenDetails.cacheWriteTokens", "gen_ai.usage.cache_creation.input_tokens",
                 "gen_ai.usage.cache_write.input_tokens", "providerMetadata.cacheWrite"),
    reasoning=("ai.usage.outputTokenDetails.reasoningTokens", "ai.usage.reasoningTokens",
               "gen_ai.usage.reasoning.output_tokens", "providerMetadata.reasoning"),
    total=("ai.usage.totalTokens", "providerMetadata.total"),
    ttft_ms=("ai.response.msToFirstChunk", "ai.stream.msToFirstChunk"),
)
_PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "ai.model.provider")
_PROVIDER_METADATA = "ai.response.providerMetadata"
# Per provider, the names of its usage details in providerMetadata -> our synthetic keys above.
_METADATA_USAGE = {
    "anthropic": {"cacheReadInputTokens": "cacheRead", "cacheCreationInputTokens": "cacheWrite"},
    "openai": {"cachedPromptTokens": "cacheRead", "reasoningTokens": "reasoning"},
    "bedrock": {"cacheReadInputTokens": "cacheRead", "cacheWriteInputTokens": "cacheWrite"},
    # Gemini's usageMetadata as the API sent it: thoughts beside the candidates, both in the total.
    "google": {"cachedContentTokenCount": "cacheRead", "thoughtsTokenCount": "reasoning", "totalTokenCount": "total"},
    "vertex": {"cachedContentTokenCount": "cacheRead", "thoughtsTokenCount": "reasoning", "totalTokenCount": "total"},
}
_NESTED_USAGE = {"bedrock": "usage", "google": "usageMetadata", "vertex": "usageMetadata"}
_CALL_SUFFIXES = {".doGenerate": "chat", ".doStream": "chat", ".doEmbed": "embeddings"}

KEYS = FIELDS.keys() | {"ai.operationId", _PROVIDER_METADATA, *_PROVIDER_KEYS}
PREFIXES: tuple[str, ...] = ()


_SEMCONV_SCOPE = "gen_ai"  # @ai-sdk/otel's OpenTelemetry integration


#: What recognises() looks for: attribute keys, scope name prefixes, span names (semconv.may_be_call).
MARKERS: frozenset[str] = frozenset({"ai.operationId"})
SCOPES: tuple[str, ...] = (_SEMCONV_SCOPE,)
SPAN_NAMES: frozenset[str] = frozenset()


def recognises(span: SpanRecord) -> bool:
    return "ai.operationId" in span.attributes or span.scope_name == _SEMCONV_SCOPE


def extract(span: SpanRecord) -> LlmCall | None:
    if "ai.operationId" not in span.attributes:
        operation = genai.operation_name(span.attributes) if "gen_ai.operation.name" in span.attributes else None
        if operation not in genai.BILLABLE_OPERATIONS:
            return None
        return read_call(span, FIELDS, NAME, input_convention=INCLUSIVE, output_convention=UNKNOWN,
                         operation=operation, provider=text(span.attributes, _PROVIDER_KEYS))
    operation_id = str(span.attributes.get("ai.operationId", ""))
    suffix = next((s for s in _CALL_SUFFIXES if operation_id.endswith(s)), None)
    if suffix is None:
        return None
    # "openai.chat", "anthropic.messages", "google.vertex.chat": the vendor is before the API name.
    provider = text(span.attributes, _PROVIDER_KEYS)
    for api in (".chat", ".messages", ".responses", ".completion", ".embedding", ".textEmbedding"):
        if provider.endswith(api):
            provider = provider[: -len(api)]
            break
    attributes = span.attributes
    if any(key.startswith("ai.usage.inputTokenDetails.") for key in attributes):
        convention = INCLUSIVE
    elif "ai.usage.promptTokens" in attributes:  # v4: the provider's own numbers
        convention = EXCLUSIVE if normalize_provider(provider) == "anthropic" else INCLUSIVE
    else:
        convention = UNKNOWN
    with_metadata = _provider_metadata_usage(attributes.get(_PROVIDER_METADATA))
    if with_metadata:
        span = replace(span, attributes={**attributes, **with_metadata})
    return read_call(
        span, FIELDS, NAME, input_convention=convention, output_convention=UNKNOWN,
        operation=_CALL_SUFFIXES[suffix], provider=provider, streaming=suffix == ".doStream",
    )


def _provider_metadata_usage(value) -> dict:
    metadata = json_value(value, dict)
    found = {}
    for vendor, names in _METADATA_USAGE.items():
        details = metadata.get(vendor)
        if isinstance(details, dict):
            details = details.get(_NESTED_USAGE[vendor], details) if vendor in _NESTED_USAGE else details
            if not isinstance(details, dict):
                continue
            found.update({f"providerMetadata.{ours}": details[theirs] for theirs, ours in names.items()
                          if theirs in details})
    return found | unit_counts(metadata)  # web searches (Gemini grounding, Anthropic), images, seconds
