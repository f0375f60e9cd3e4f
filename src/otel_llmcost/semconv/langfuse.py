"""Langfuse's own OTel attributes (`langfuse.observation.*`), from its SDKs and integrations.

Source: https://github.com/langfuse/langfuse/blob/main/packages/shared/src/server/otel/attributes.ts
Usage is a JSON map in `langfuse.observation.usage_details`. With Langfuse's own keys the buckets are
disjoint (`input` excludes cached tokens, `output` excludes reasoning); its OpenAI wrapper passes OpenAI's
usage through instead (`prompt_tokens` includes the nested `prompt_tokens_details.cached_tokens`). Spans name
one model (the response's on success, the request's on failure) and no provider, which the receiver then
takes from the price book. `completion_start_time` (JSON-encoded ISO time) marks streamed calls.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv.fields import EXCLUSIVE, INCLUSIVE, Fields, read_call
from otel_llmcost.semconv.values import json_value

NAME = "langfuse"

_USAGE = "langfuse.observation.usage_details"
_COST = "langfuse.observation.cost_details"
FIELDS = Fields(
    provider=("gen_ai.provider.name", "gen_ai.system"),
    request_model=("langfuse.observation.model.name", "gen_ai.request.model"),
    response_model=("gen_ai.response.model",),
    response_id=("gen_ai.response.id",),
    input=("usage.input", "usage.input_tokens", "usage.prompt_tokens"),
    output=("usage.output", "usage.output_tokens", "usage.completion_tokens"),
    cache_read=("usage.input_cache_read", "usage.input_cached_tokens", "usage.cache_read",
                "usage.cache_read_input_tokens", "usage.prompt_tokens_details.cached_tokens"),
    cache_write=("usage.input_cache_creation", "usage.input_cache_write", "usage.cache_write",
                 "usage.cache_creation_input_tokens"),
    reasoning=("usage.output_reasoning_tokens", "usage.output_reasoning", "usage.reasoning_tokens",
               "usage.completion_tokens_details.reasoning_tokens"),
    emitter_cost=("cost.total",),
)
_TYPES = {"generation": "chat", "embedding": "embeddings"}
_COMPLETION_START = "langfuse.observation.completion_start_time"
_OPENAI_KEYS = ("usage.prompt_tokens", "usage.completion_tokens")

KEYS = frozenset({"langfuse.observation.type", _USAGE, _COST, _COMPLETION_START, *FIELDS.keys()})
PREFIXES: tuple[str, ...] = ()


#: What recognises() looks for: attribute keys, scope name prefixes, span names (semconv.may_be_call).
MARKERS: frozenset[str] = frozenset({"langfuse.observation.type"})
SCOPES: tuple[str, ...] = ()
SPAN_NAMES: frozenset[str] = frozenset()


def recognises(span: SpanRecord) -> bool:
    return "langfuse.observation.type" in span.attributes


def extract(span: SpanRecord) -> LlmCall | None:
    operation = _TYPES.get(str(span.attributes.get("langfuse.observation.type", "")).lower())
    if operation is None:
        return None
    flattened = dict(span.attributes)
    flattened.update(_json_map(span.attributes.get(_USAGE), "usage."))
    flattened.update(_json_map(span.attributes.get(_COST), "cost."))
    convention = INCLUSIVE if any(key in flattened for key in _OPENAI_KEYS) else EXCLUSIVE
    call = read_call(replace(span, attributes=flattened), FIELDS, NAME, input_convention=convention,
                     output_convention=convention, operation=operation)
    started = _time_ns(span.attributes.get(_COMPLETION_START))
    if started is not None:
        call = replace(call, streaming=True, ttft_ms=max(started - span.start_ns, 0) / 1e6)
    return call


def _json_map(value, prefix: str) -> dict:
    """A JSON object (nested ones flattened with dots) under `prefix`."""
    flat = {}
    for key, inner in json_value(value, dict).items():
        if isinstance(inner, dict):
            flat.update(_json_map(inner, f"{prefix}{key}."))
        else:
            flat[prefix + str(key)] = inner
    return flat


def _time_ns(value) -> int | None:
    """Langfuse SDKs JSON-encode the ISO time, some twice."""
    for _ in range(3):
        if not isinstance(value, str) or not value.startswith('"'):
            break
        try:
            value = json.loads(value)
        except ValueError:
            return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp() * 1_000_000) * 1000 if moment.tzinfo else None
