"""pydantic-ai (and Logfire) spans: gen_ai.* names from scope `pydantic-ai`.

Source: https://github.com/pydantic/pydantic-ai/blob/main/pydantic_ai_slim/pydantic_ai/models/instrumented.py
Model-request spans (`chat ...`, which also name their agent) are calls. The agent-run span sums its
requests (`invoke_agent` with `gen_ai.aggregated_usage.*` now; `agent run` with `agent_name` and plain
`gen_ai.usage.*` in older releases) and is never billed. pydantic-ai prices calls itself with
genai-prices and reports it as `operation.cost`.
"""

from __future__ import annotations

from dataclasses import replace

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv import genai
from otel_llmcost.semconv.fields import INCLUSIVE, UNKNOWN, read_call

NAME = "pydantic-ai"

FIELDS = replace(  # the OpenTelemetry names, plus this dialect's own
    genai.FIELDS,
    cache_read=("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.details.cache_read_tokens",
                "gen_ai.usage.details.cache_read_input_tokens", "gen_ai.usage.cache_read_tokens"),
    cache_write=("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens",
                 "gen_ai.usage.details.cache_write_tokens", "gen_ai.usage.details.cache_creation_input_tokens",
                 "gen_ai.usage.cache_write_tokens"),
    reasoning=("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.details.reasoning_tokens"),
    emitter_cost=("operation.cost",),
)

KEYS = FIELDS.keys() | {"agent_name"}
PREFIXES: tuple[str, ...] = ()


#: What recognises() looks for: attribute keys, scope name prefixes, span names (semconv.may_be_call).
MARKERS: frozenset[str] = frozenset()
SCOPES: tuple[str, ...] = ("pydantic-ai", "pydantic_ai")
SPAN_NAMES: frozenset[str] = frozenset()


def recognises(span: SpanRecord) -> bool:
    return span.scope_name in ("pydantic-ai", "pydantic_ai")


def extract(span: SpanRecord) -> LlmCall | None:
    attributes = span.attributes
    if genai.operation_name(attributes) not in genai.BILLABLE_OPERATIONS:
        return None
    if "agent_name" in attributes:
        return None  # an agent run of releases before invoke_agent: the sum of its model requests
    if not any(key in attributes for key in FIELDS.input + FIELDS.output + FIELDS.request_model):
        return None
    return read_call(span, FIELDS, NAME, input_convention=INCLUSIVE, output_convention=UNKNOWN)
