"""OpenTelemetry GenAI semantic conventions: v1.41 names, the genai repo's newer ones and the deprecated ones.

Names: https://github.com/open-telemetry/semantic-conventions/blob/v1.41.1/docs/gen-ai/gen-ai-spans.md
Per the spec, input_tokens includes cached tokens and output_tokens includes reasoning tokens.
"""

from __future__ import annotations

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv.providers import normalize_provider
from otel_llmcost.semconv.values import error_type, flag, normalize_tokens, seconds_as_ms, text, token_count

NAME = "otel-genai"

OPERATION = ("gen_ai.operation.name",)
PROVIDER = ("gen_ai.provider.name", "gen_ai.system")  # gen_ai.system: deprecated in v1.37
REQUEST_MODEL = ("gen_ai.request.model",)
RESPONSE_MODEL = ("gen_ai.response.model",)
RESPONSE_ID = ("gen_ai.response.id",)
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")  # prompt_: before v1.27
OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CACHE_READ_TOKENS = ("gen_ai.usage.cache_read.input_tokens",)
# cache_creation: v1.40-v1.41; cache_write: the genai repo's rename (PR #440), already emitted in the wild.
CACHE_WRITE_TOKENS = ("gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens")
REASONING_TOKENS = ("gen_ai.usage.reasoning.output_tokens",)
ERROR_TYPE = ("error.type",)
STREAMING = ("gen_ai.request.stream",)
TIME_TO_FIRST_CHUNK_S = ("gen_ai.response.time_to_first_chunk",)
SERVICE_TIER = (
    "openai.response.service_tier",
    "openai.request.service_tier",
    "gen_ai.openai.response.service_tier",  # before v1.37
    "gen_ai.openai.request.service_tier",
    "gen_ai.request.service_tier",
)
SERVER_ADDRESS = ("server.address",)

#: Operations that are one model call. Agent, tool and workflow spans aggregate calls and are never billed.
BILLABLE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})

KEYS = frozenset(
    OPERATION + PROVIDER + REQUEST_MODEL + RESPONSE_MODEL + RESPONSE_ID + INPUT_TOKENS + OUTPUT_TOKENS
    + CACHE_READ_TOKENS + CACHE_WRITE_TOKENS + REASONING_TOKENS + ERROR_TYPE + STREAMING
    + TIME_TO_FIRST_CHUNK_S + SERVICE_TIER + SERVER_ADDRESS
)
PREFIXES: tuple[str, ...] = ()


def recognises(span: SpanRecord) -> bool:
    attributes = span.attributes
    operation = attributes.get("gen_ai.operation.name")
    if operation is not None:
        return operation in BILLABLE_OPERATIONS
    # Emitters older than v1.27 had no operation name: a provider plus usage marks a model call.
    has_provider = "gen_ai.provider.name" in attributes or "gen_ai.system" in attributes
    return has_provider and any(key in attributes for key in INPUT_TOKENS + OUTPUT_TOKENS)


def extract(span: SpanRecord) -> LlmCall:
    attributes = span.attributes
    server_address = text(attributes, SERVER_ADDRESS)
    input_tokens, cache_read, cache_write, output_tokens, reasoning = normalize_tokens(
        token_count(attributes, INPUT_TOKENS),
        token_count(attributes, CACHE_READ_TOKENS),
        token_count(attributes, CACHE_WRITE_TOKENS),
        token_count(attributes, OUTPUT_TOKENS),
        token_count(attributes, REASONING_TOKENS),
    )
    return LlmCall(
        dialect=NAME,
        provider=normalize_provider(text(attributes, PROVIDER), server_address),
        operation=text(attributes, OPERATION) or "chat",
        request_model=text(attributes, REQUEST_MODEL),
        response_model=text(attributes, RESPONSE_MODEL),
        response_id=text(attributes, RESPONSE_ID),
        input_tokens=input_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
        error_type=error_type(span, ERROR_TYPE),
        streaming=flag(attributes, STREAMING),
        ttft_ms=seconds_as_ms(attributes, TIME_TO_FIRST_CHUNK_S),
        service_tier=text(attributes, SERVICE_TIER),
        server_address=server_address,
    )
