"""Vercel AI SDK spans (`ai.operationId`), v4 to v7 names.

Docs: https://ai-sdk.dev/docs/ai-sdk-core/telemetry
Only the provider calls (`ai.*.doGenerate`, `ai.*.doStream`, `ai.*.doEmbed`) are calls; the outer
`ai.generateText` / `ai.streamText` / `ai.embed` spans carry the sum of their steps and are never billed.
v6+ count input inclusive of the cache (`inputTokenDetails` spells it out); v4/v5 passed provider numbers.
"""

from __future__ import annotations

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv.fields import INCLUSIVE, UNKNOWN, Fields, read_call
from otel_llmcost.semconv.values import text

NAME = "vercel-ai"

FIELDS = Fields(
    request_model=("gen_ai.request.model", "ai.model.id"),
    response_model=("gen_ai.response.model", "ai.response.model"),
    response_id=("gen_ai.response.id", "ai.response.id"),
    input=("ai.usage.inputTokens", "ai.usage.promptTokens", "gen_ai.usage.input_tokens", "ai.usage.tokens"),
    output=("ai.usage.outputTokens", "ai.usage.completionTokens", "gen_ai.usage.output_tokens"),
    cache_read=("ai.usage.inputTokenDetails.cacheReadTokens", "ai.usage.cachedInputTokens",
                "gen_ai.usage.cache_read.input_tokens"),
    cache_write=("ai.usage.inputTokenDetails.cacheWriteTokens", "gen_ai.usage.cache_creation.input_tokens",
                 "gen_ai.usage.cache_write.input_tokens"),
    reasoning=("ai.usage.outputTokenDetails.reasoningTokens", "ai.usage.reasoningTokens",
               "gen_ai.usage.reasoning.output_tokens"),
    ttft_ms=("ai.response.msToFirstChunk", "ai.stream.msToFirstChunk"),
)
_PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "ai.model.provider")
_CALL_SUFFIXES = {".doGenerate": "chat", ".doStream": "chat", ".doEmbed": "embeddings"}

KEYS = FIELDS.keys() | {"ai.operationId", *_PROVIDER_KEYS}
PREFIXES: tuple[str, ...] = ()


def recognises(span: SpanRecord) -> bool:
    return "ai.operationId" in span.attributes


def extract(span: SpanRecord) -> LlmCall | None:
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
    inclusive = any(key.startswith("ai.usage.inputTokenDetails.") for key in span.attributes)
    return read_call(
        span, FIELDS, NAME, input_convention=INCLUSIVE if inclusive else UNKNOWN, output_convention=UNKNOWN,
        operation=_CALL_SUFFIXES[suffix], provider=provider, streaming=suffix == ".doStream",
    )
