"""Extraction stage: a SpanRecord -> one normalized LlmCall, or None when the span is not an LLM call.

Each dialect (one module each) knows its own attribute names and token convention; the first dialect
that recognises a span reads it, and may decide it is not a call (an agent or workflow span, an outer span
summing its steps). Spans no dialect recognises are never billed. Specific dialects come first: several
of them also use gen_ai.* names, which the generic OpenTelemetry dialect would otherwise read.
"""

from __future__ import annotations

from otel_llmcost.decode import AttributeFilter
from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv import (
    genai,
    langfuse,
    litellm,
    openinference,
    openlit,
    openllmetry,
    pydantic_ai,
    vercel,
)
from otel_llmcost.semconv.server_tools import DOCUMENTS, document_units
from otel_llmcost.semconv.values import InvalidSpan

DIALECTS = (openinference, vercel, langfuse, litellm, openlit, pydantic_ai, openllmetry, genai)

#: Every attribute any dialect reads; decode keeps only these (plus attribution's keys). Response documents
#: are decoded only for the unit counts they hold (semconv/server_tools.py), which every dialect reads.
WANTED_ATTRIBUTES = AttributeFilter(
    keys=frozenset().union(*(dialect.KEYS for dialect in DIALECTS), DOCUMENTS),
    prefixes=tuple(sorted({prefix for dialect in DIALECTS for prefix in dialect.PREFIXES})),
    documents=DOCUMENTS,
    summarise=document_units,
)


_MARKERS = frozenset().union(*(dialect.MARKERS for dialect in DIALECTS))
_SCOPES = tuple(scope for dialect in DIALECTS for scope in dialect.SCOPES)
_SPAN_NAMES = frozenset().union(*(dialect.SPAN_NAMES for dialect in DIALECTS))


def may_be_call(span: SpanRecord) -> bool:
    """False when no dialect can recognise the span: none of their marker keys among its attributes (one
    C-level pass over its keys), nor their scopes or span names. Most spans of a whole-trace firehose are
    plain app spans; this spares them every dialect's own test."""
    return not _MARKERS.isdisjoint(span.attributes) or span.scope_name.startswith(_SCOPES) or \
        span.name in _SPAN_NAMES


def extract_call(span: SpanRecord) -> LlmCall | None:
    """Return the LLM call the span describes, None if it is not one; raise InvalidSpan if unusable."""
    if not may_be_call(span):
        return None
    for dialect in DIALECTS:
        if dialect.recognises(span):
            return dialect.extract(span)
    return None


__all__ = ["DIALECTS", "WANTED_ATTRIBUTES", "InvalidSpan", "extract_call", "may_be_call"]
