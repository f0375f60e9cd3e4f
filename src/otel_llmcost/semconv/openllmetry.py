"""OpenLLMetry (Traceloop) spans, before and after its move to the gen_ai.* names (semconv-ai 0.5).

Keys: https://github.com/traceloop/openllmetry/blob/main/packages/opentelemetry-semantic-conventions-ai
Old releases put usage under llm.usage.* and gen_ai.usage.prompt_tokens; `llm.request.type` says what
kind of call it is. Current releases use the OpenTelemetry names plus a few of their own
(`gen_ai.is_streaming`, `gen_ai.usage.reasoning_tokens`, `gen_ai.usage.total_tokens`), which is how we
tell them apart. Workflow/task/agent/tool spans (`traceloop.span.kind`) are never model calls.
"""

from __future__ import annotations

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv import genai
from otel_llmcost.semconv.fields import UNKNOWN, Fields, named_input_convention, read_call

NAME = "openllmetry"

FIELDS = Fields(
    provider=("gen_ai.provider.name", "gen_ai.system", "llm.vendor"),
    operation=("gen_ai.operation.name",),
    request_model=("gen_ai.request.model", "llm.request.model"),
    response_model=("gen_ai.response.model", "llm.response.model"),
    response_id=("gen_ai.response.id",),
    input=("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens"),
    output=("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens"),
    cache_read=("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    cache_write=("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens",
                 "gen_ai.usage.cache_write.input_tokens"),
    reasoning=("gen_ai.usage.reasoning_tokens", "llm.usage.reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"),
    streaming=("gen_ai.is_streaming", "llm.is_streaming"),
    total=("gen_ai.usage.total_tokens", "llm.usage.total_tokens"),
    service_tier=genai.FIELDS.service_tier,
)
_REQUEST_TYPES = {"chat": "chat", "completion": "text_completion", "embedding": "embeddings"}

_MARKERS = (
    "llm.request.type", "traceloop.span.kind", "llm.vendor", "gen_ai.is_streaming", "llm.is_streaming",
    "llm.usage.total_tokens",
)
_MARKER_SET = frozenset(_MARKERS)
_TOTAL = "gen_ai.usage.total_tokens"  # not an OpenTelemetry name; the contrib instrumentations never set it

KEYS = FIELDS.keys() | set(_MARKERS) | {_TOTAL}
PREFIXES: tuple[str, ...] = ()


#: What recognises() looks for: attribute keys, scope name prefixes, span names (semconv.may_be_call).
MARKERS: frozenset[str] = _MARKER_SET | {_TOTAL}
SCOPES: tuple[str, ...] = ()
SPAN_NAMES: frozenset[str] = frozenset()


def recognises(span: SpanRecord) -> bool:
    attributes = span.attributes
    if not _MARKER_SET.isdisjoint(attributes):  # iterates the span's few kept keys, not the markers
        return True
    return _TOTAL in attributes and span.scope_name.startswith("opentelemetry.instrumentation.")


def extract(span: SpanRecord) -> LlmCall | None:
    attributes = span.attributes
    if "traceloop.span.kind" in attributes and "llm.request.type" not in attributes:
        return None
    operation: str | None
    if "gen_ai.operation.name" in attributes:
        operation = genai.operation_name(attributes)
        if operation not in genai.BILLABLE_OPERATIONS:
            return None
    else:
        operation = _REQUEST_TYPES.get(str(attributes.get("llm.request.type", "chat")).lower())
        if operation is None:
            return None  # rerank, unknown: not token-priced calls we can read
    # The renamed cache keys arrived with the inclusive Anthropic counts; before them, raw provider numbers. Its
    # Bedrock instrumentation still passes Converse's exclusive inputTokens under the new names.
    convention = named_input_convention(attributes, FIELDS.provider)
    return read_call(span, FIELDS, NAME, input_convention=convention, output_convention=UNKNOWN, operation=operation)
