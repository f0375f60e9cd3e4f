"""Langfuse's own OTel attributes (`langfuse.observation.*`), from its SDKs and integrations.

Source: https://github.com/langfuse/langfuse/blob/main/packages/shared/src/server/otel/attributes.ts
Usage is a JSON map in `langfuse.observation.usage_details` whose buckets are disjoint: `input` excludes
cached tokens and `output` excludes reasoning tokens.
"""

from __future__ import annotations

import json
from dataclasses import replace

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv.fields import EXCLUSIVE, Fields, read_call

NAME = "langfuse"

_USAGE = "langfuse.observation.usage_details"
_COST = "langfuse.observation.cost_details"
FIELDS = Fields(
    provider=("gen_ai.provider.name", "gen_ai.system"),
    request_model=("langfuse.observation.model.name", "gen_ai.request.model"),
    response_model=("gen_ai.response.model", "langfuse.observation.model.name"),
    response_id=("gen_ai.response.id",),
    input=("usage.input", "usage.input_tokens", "usage.prompt_tokens"),
    output=("usage.output", "usage.output_tokens", "usage.completion_tokens"),
    cache_read=("usage.input_cache_read", "usage.input_cached_tokens", "usage.cache_read", "usage.cache_read_input_tokens"),
    cache_write=("usage.input_cache_creation", "usage.input_cache_write", "usage.cache_write",
                 "usage.cache_creation_input_tokens"),
    reasoning=("usage.output_reasoning_tokens", "usage.output_reasoning", "usage.reasoning_tokens"),
    emitter_cost=("cost.total",),
)
_TYPES = {"generation": "chat", "embedding": "embeddings"}

KEYS = frozenset({"langfuse.observation.type", _USAGE, _COST, *FIELDS.keys()})
PREFIXES: tuple[str, ...] = ()


def recognises(span: SpanRecord) -> bool:
    return "langfuse.observation.type" in span.attributes


def extract(span: SpanRecord) -> LlmCall | None:
    operation = _TYPES.get(str(span.attributes.get("langfuse.observation.type", "")).lower())
    if operation is None:
        return None
    flattened = dict(span.attributes)
    flattened.update(_json_map(span.attributes.get(_USAGE), "usage."))
    flattened.update(_json_map(span.attributes.get(_COST), "cost."))
    return read_call(replace(span, attributes=flattened), FIELDS, NAME, input_convention=EXCLUSIVE,
                     output_convention=EXCLUSIVE, operation=operation)


def _json_map(value, prefix: str) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return {prefix + str(k): v for k, v in value.items()} if isinstance(value, dict) else {}
