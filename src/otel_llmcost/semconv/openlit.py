"""OpenLIT spans (instrumentation scope `openlit...`): gen_ai.* names plus its own extensions.

Keys: https://github.com/openlit/openlit/blob/main/sdk/python/src/openlit/semcov/__init__.py
OpenLIT passes Anthropic's raw input_tokens through, which EXCLUDES the cache, unlike the spec; for other
providers (OpenAI's prompt_tokens) input includes it. It reports its own price estimate as gen_ai.usage.cost.
Its Anthropic spans for failed calls carry no attributes at all; the span name (`{operation} {model}`, as
the semantic conventions name spans) and the scope (`openlit.instrumentation.<provider>`) still say what
was called.
"""

from __future__ import annotations

import re
from dataclasses import replace

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv import genai
from otel_llmcost.semconv.fields import EXCLUSIVE, INCLUSIVE, UNKNOWN, read_call
from otel_llmcost.semconv.providers import normalize_provider
from otel_llmcost.semconv.values import text

NAME = "openlit"

FIELDS = replace(  # the OpenTelemetry names, plus this dialect's own
    genai.FIELDS,
    cache_read=("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.prompt_tokens_details.cached_tokens"),
    cache_write=("gen_ai.usage.cache_creation.input_tokens",
                 "gen_ai.usage.prompt_tokens_details.cache_creation_tokens"),
    reasoning=("gen_ai.usage.reasoning_tokens", "gen_ai.usage.completion_tokens_details.reasoning_tokens",
               "gen_ai.usage.reasoning.output_tokens"),
    audio_input=("gen_ai.usage.prompt_tokens_details.audio_tokens", "gen_ai.usage.audio.input_tokens"),
    audio_output=("gen_ai.usage.completion_tokens_details.audio_tokens", "gen_ai.usage.audio.output_tokens"),
    streaming=("gen_ai.request.is_stream", "gen_ai.is_streaming", "gen_ai.request.stream"),
    ttft_seconds=("gen_ai.server.time_to_first_token", "gen_ai.response.time_to_first_chunk"),
    emitter_cost=("gen_ai.usage.cost",),
)

_SPAN_NAME = re.compile(r"^(chat|text_completion|generate_content|embeddings) (\S+)$")
_SCOPE_PREFIX = "openlit.instrumentation."

KEYS = FIELDS.keys()
PREFIXES: tuple[str, ...] = ()


#: What recognises() looks for: attribute keys, scope name prefixes, span names (semconv.may_be_call).
MARKERS: frozenset[str] = frozenset()
SCOPES: tuple[str, ...] = ("openlit",)
SPAN_NAMES: frozenset[str] = frozenset()


def recognises(span: SpanRecord) -> bool:
    return span.scope_name.startswith("openlit")


def extract(span: SpanRecord) -> LlmCall | None:
    if genai.operation_name(span.attributes) not in genai.BILLABLE_OPERATIONS:
        return None
    if not any(key in span.attributes for key in FIELDS.input + FIELDS.output + FIELDS.request_model):
        return _from_name(span)
    provider = normalize_provider(text(span.attributes, FIELDS.provider))
    convention = EXCLUSIVE if provider == "anthropic" else INCLUSIVE
    return read_call(span, FIELDS, NAME, input_convention=convention, output_convention=UNKNOWN)


def _from_name(span: SpanRecord) -> LlmCall | None:
    """A failed call's bare span; anything else without model or usage is a framework or vector-DB span."""
    named = _SPAN_NAME.match(span.name)
    if named is None or span.attributes or not span.scope_name.startswith(_SCOPE_PREFIX):
        return None
    provider = span.scope_name[len(_SCOPE_PREFIX):]
    call = read_call(span, FIELDS, NAME, input_convention=UNKNOWN, operation=named.group(1), provider=provider)
    return replace(call, request_model=named.group(2))
