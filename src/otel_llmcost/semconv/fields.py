"""Reading one call from a span through a dialect's table of attribute names (first name present wins).

Every dialect describes where its emitters put each fact (`Fields`) and which token convention they follow;
`read_call` does the reading and brings the counts to ours: input includes cache reads and writes,
output includes reasoning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from otel_llmcost.kinds import COUNTED, with_kind_fields
from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv.providers import RAW_INPUT_EXCLUDES_CACHE, normalize_provider
from otel_llmcost.semconv.values import error_type, first, flag, text, token_count

INCLUSIVE, EXCLUSIVE, UNKNOWN = "inclusive", "exclusive", "unknown"


def named_input_convention(attributes, provider_keys: tuple[str, ...]) -> str:
    """The input convention of an emitter that passes provider numbers through, told by its key names: the
    GenAI v1.40 cache names mean inclusive, unless the provider's own API excludes the cache from its input
    count (Bedrock Converse, Anthropic) and the emitter may have put that raw number under the new name; then,
    as for older names, only the numbers can tell (UNKNOWN)."""
    if "gen_ai.usage.cache_read.input_tokens" not in attributes:
        return UNKNOWN
    provider = normalize_provider(text(attributes, provider_keys), text(attributes, ("server.address",)))
    return UNKNOWN if provider in RAW_INPUT_EXCLUDES_CACHE else INCLUSIVE


@with_kind_fields(lambda kind: (kind.field, "tuple[str, ...]", kind.attributes) if kind.count else None)
@dataclass(frozen=True, slots=True)
class Fields:
    """Attribute names per fact, most preferred first; then per billable kind (kinds.py: `input`,
    `cache_read`, ..., `web_searches`, `images`), whose defaults are the names every dialect reads."""

    provider: tuple[str, ...] = ()
    operation: tuple[str, ...] = ()
    request_model: tuple[str, ...] = ()
    response_model: tuple[str, ...] = ()
    response_id: tuple[str, ...] = ()
    total: tuple[str, ...] = ()  # the emitter's total: a gap above input + output is unreported thinking
    if TYPE_CHECKING:  # the fields with_kind_fields adds (kinds.py), for mypy; tests/test_billable_units.py
        input: tuple[str, ...] = ()
        cache_read: tuple[str, ...] = ()
        cache_write: tuple[str, ...] = ()
        output: tuple[str, ...] = ()
        reasoning: tuple[str, ...] = ()
        cache_write_1h: tuple[str, ...] = ()
        audio_input: tuple[str, ...] = ()
        audio_output: tuple[str, ...] = ()
        image_input: tuple[str, ...] = ()
        image_output: tuple[str, ...] = ()
        web_searches: tuple[str, ...] = ()
        file_searches: tuple[str, ...] = ()
        images: tuple[str, ...] = ()
        audio_seconds: tuple[str, ...] = ()
    error_type: tuple[str, ...] = ("error.type",)
    streaming: tuple[str, ...] = ()
    ttft_seconds: tuple[str, ...] = ()
    ttft_ms: tuple[str, ...] = ()
    service_tier: tuple[str, ...] = ()
    server_address: tuple[str, ...] = ("server.address",)
    emitter_cost: tuple[str, ...] = ()

    def keys(self) -> frozenset[str]:
        return frozenset(key for f in dataclasses.fields(self) for key in getattr(self, f.name))


def read_call(
    span: SpanRecord,
    fields: Fields,
    dialect: str,
    *,
    input_convention: str,
    output_convention: str = INCLUSIVE,
    operation: str | None = None,
    provider: str | None = None,
    streaming: bool | None = None,
) -> LlmCall:
    """The call the span describes. `*_convention`: do the emitter's input/output counts include the
    cache/reasoning counts (INCLUSIVE), exclude them (EXCLUSIVE), or is it not known (UNKNOWN)?"""
    attributes = span.attributes
    server_address = text(attributes, fields.server_address)
    input_tokens = token_count(attributes, fields.input)
    cache_read = token_count(attributes, fields.cache_read)
    cache_write = token_count(attributes, fields.cache_write)
    output_tokens = token_count(attributes, fields.output)
    reasoning = token_count(attributes, fields.reasoning)
    total = token_count(attributes, fields.total)
    if input_convention == UNKNOWN and cache_read + cache_write and total == input_tokens + cache_read + cache_write \
            + output_tokens:
        input_convention = EXCLUSIVE  # a total that adds the cache to the input: the input excluded it
    issues = []
    input_tokens, issue = _include(input_tokens, cache_read + cache_write, input_convention, "input", "cache")
    issues.append(issue)
    if output_convention == UNKNOWN and reasoning and total == input_tokens + output_tokens + reasoning:
        output_convention = EXCLUSIVE  # a total that adds the reasoning to the output (Gemini's thoughts)
    output_tokens, issue = _include(output_tokens, reasoning, output_convention, "output", "reasoning")
    issues.append(issue)
    operation = operation or text(attributes, fields.operation) or "chat"
    if total and not input_tokens + output_tokens:
        # Only a total (an emitter that read the usage under other names): embeddings have no output, so it is
        # their input; for a generation the split, and so the cost, is unknown. Flagged, never guessed.
        if operation == "embeddings":
            input_tokens = total
        else:
            issues.append(f"only a total of {total} tokens was reported, not how many were input and output")
    elif not reasoning and not any(issues):
        # Gemini counts thoughts beside the candidates (thoughtsTokenCount) and its total includes them: an
        # emitter that drops the thoughts count still reports that total. The gap is billed output (thinking).
        reasoning = max(total - input_tokens - output_tokens, 0)
        output_tokens += reasoning
    ttft_ms = _float(first(attributes, fields.ttft_seconds), 1000.0)
    if ttft_ms is None:
        ttft_ms = _float(first(attributes, fields.ttft_ms), 1.0)
    return LlmCall(
        dialect=dialect,
        provider=normalize_provider(
            provider if provider is not None else text(attributes, fields.provider), server_address
        ),
        operation=operation,
        request_model=text(attributes, fields.request_model),
        response_model=text(attributes, fields.response_model),
        response_id=text(attributes, fields.response_id),
        error_type=error_type(span, fields.error_type),
        streaming=_streaming(attributes, fields.streaming, ttft_ms) if streaming is None else streaming,
        ttft_ms=ttft_ms,
        service_tier=text(attributes, fields.service_tier),
        server_address=server_address,
        emitter_cost_usd=_decimal(first(attributes, fields.emitter_cost)),
        usage_issue="; ".join(i for i in issues if i),
        input_tokens=input_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
        **_other_counts(attributes, fields, {"input_tokens": input_tokens, "cache_read_tokens": cache_read,
                                             "cache_write_tokens": cache_write, "output_tokens": output_tokens,
                                             "reasoning_tokens": reasoning}),
    )


def _other_counts(attributes, fields: Fields, wholes: dict[str, int]) -> dict[str, int]:
    """The counts of the kinds beyond the five the conventions above settle; a part (kinds.Kind.part_of) is
    never larger than what it is part of."""
    counts = dict(wholes)
    for kind in COUNTED:
        if kind.count not in counts:
            count = token_count(attributes, getattr(fields, kind.field))
            counts[kind.count] = min(count, counts[kind.part_of]) if kind.part_of else count
    return {name: count for name, count in counts.items() if name not in wholes}


def _streaming(attributes, keys: tuple[str, ...], ttft_ms: float | None) -> bool:
    if first(attributes, keys) is not None:
        return flag(attributes, keys)
    return ttft_ms is not None  # when the emitter does not say: time to first chunk is measured on streams


def _include(total: int, part: int, convention: str, total_name: str, part_name: str) -> tuple[int, str]:
    """Make `total` include `part`; an inclusive emitter reporting part > total is flagged, not fixed."""
    if convention == EXCLUSIVE:
        return total + part, ""
    if part <= total:
        return total, ""
    if convention == INCLUSIVE:
        return total, f"{part_name} tokens ({part}) exceed {total_name} tokens ({total}) that should include them"
    # Unknown convention: only the exclusive reading is consistent with these numbers.
    return total + part, ""


def _float(value, scale: float) -> float | None:
    try:
        return None if value is None else float(value) * scale
    except (TypeError, ValueError):
        return None


def _decimal(value) -> Decimal | None:
    """Emitters report cost as a float; str() keeps the digits they printed rather than binary noise."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
