"""OpenTelemetry GenAI semantic conventions: v1.41 names, the genai repo's newer ones and the deprecated ones.

Names: https://github.com/open-telemetry/semantic-conventions/blob/v1.41.1/docs/gen-ai/gen-ai-spans.md
Per the spec, input_tokens includes cached tokens and output_tokens includes reasoning tokens. This is also
the fallback for any emitter that uses gen_ai.* names without a more specific dialect (Strands, Spring AI,
Semantic Kernel, hand-written spans), hence the common non-standard aliases below.
"""

from __future__ import annotations

from otel_llmcost.kinds import COUNTED
from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv.fields import UNKNOWN, Fields, named_input_convention, read_call
from otel_llmcost.semconv.values import STATUS_ERROR, InvalidSpan

NAME = "otel-genai"

FIELDS = Fields(
    provider=("gen_ai.provider.name", "gen_ai.system"),  # gen_ai.system: deprecated in v1.37
    operation=("gen_ai.operation.name",),
    request_model=("gen_ai.request.model",),
    response_model=("gen_ai.response.model",),
    response_id=("gen_ai.response.id",),
    input=("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),  # prompt_: before v1.27
    output=("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    # cache_creation: v1.40-v1.41; cache_write: the genai repo's rename (PR #440); underscore forms: custom
    # emitters and Strands.
    cache_read=("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    cache_write=(
        "gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write_input_tokens", "gen_ai.usage.cache_creation_input_tokens",
    ),
    reasoning=("gen_ai.usage.reasoning.output_tokens",),
    total=("gen_ai.usage.total_tokens",),  # not a GenAI name, but many emitters add it (Traceloop, Strands...)
    emitter_cost=("gen_ai.usage.cost.amount",),  # proposed in semantic-conventions-genai PR #443
    streaming=("gen_ai.request.stream",),
    ttft_seconds=("gen_ai.response.time_to_first_chunk", "gen_ai.client.operation.time_to_first_chunk"),
    service_tier=(
        "openai.response.service_tier", "openai.request.service_tier",
        "gen_ai.openai.response.service_tier", "gen_ai.openai.request.service_tier",  # before v1.37
        "gen_ai.request.service_tier",
    ),
)

#: Operations that are one model call. Agent, tool and workflow spans aggregate calls and are never billed.
BILLABLE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})

KEYS = FIELDS.keys()
PREFIXES: tuple[str, ...] = ()


#: What recognises() looks for: attribute keys, scope name prefixes, span names (semconv.may_be_call).
MARKERS: frozenset[str] = frozenset({"gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system"})
SCOPES: tuple[str, ...] = ()
SPAN_NAMES: frozenset[str] = frozenset()


def recognises(span: SpanRecord) -> bool:
    attributes = span.attributes
    if "gen_ai.operation.name" in attributes:
        return True
    # Emitters older than v1.27 had no operation name: a provider plus usage marks a model call, and a provider
    # plus a requested model on a failed span a call that failed before any usage (a try that must stay a row).
    has_provider = "gen_ai.provider.name" in attributes or "gen_ai.system" in attributes
    return has_provider and (any(key in attributes for key in FIELDS.input + FIELDS.output)
                             or (span.status_code == STATUS_ERROR and "gen_ai.request.model" in attributes))


def operation_name(attributes) -> str:
    """gen_ai.operation.name ("chat" when absent). One that is not text (an integer) makes the span unusable
    (InvalidSpan, reported to the exporter) rather than silently taken for no call."""
    value = attributes.get("gen_ai.operation.name", "chat")
    if not isinstance(value, str):
        raise InvalidSpan(f"gen_ai.operation.name={value!r} is not an operation name")
    return value


#: The units billed by the piece (kinds.py): a span reporting them is a billed call whatever its operation
#: (semantic conventions name no image generation or transcription operation yet).
_UNIT_ATTRIBUTES = tuple(key for kind in COUNTED if kind.unit != "token" for key in kind.attributes)


def extract(span: SpanRecord) -> LlmCall | None:
    operation = operation_name(span.attributes)
    if operation not in BILLABLE_OPERATIONS and not any(key in span.attributes for key in _UNIT_ATTRIBUTES):
        return None
    convention = named_input_convention(span.attributes, FIELDS.provider)
    return read_call(span, FIELDS, NAME, input_convention=convention, output_convention=UNKNOWN)
