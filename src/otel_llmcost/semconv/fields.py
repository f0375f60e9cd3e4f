"""Reading one call from a span through a dialect's table of attribute names (first name present wins).

Every dialect describes where its emitters put each fact (`Fields`) and which token convention they follow;
`read_call` does the reading and brings the counts to ours: input includes cache reads and writes,
output includes reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

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


@dataclass(frozen=True, slots=True)
class Fields:
    """Attribute names per fact, most preferred first."""

    provider: tuple[str, ...] = ()
    operation: tuple[str, ...] = ()
    request_model: tuple[str, ...] = ()
    response_model: tuple[str, ...] = ()
    response_id: tuple[str, ...] = ()
    input: tuple[str, ...] = ()
    output: tuple[str, ...] = ()
    cache_read: tuple[str, ...] = ()
    cache_write: tuple[str, ...] = ()
    reasoning: tuple[str, ...] = ()
    total: tuple[str, ...] = ()  # the emitter's total: a gap above input + output is unreported thinking
    cache_write_1h: tuple[str, ...] = ("anthropic.usage.cache_creation.ephemeral_1h_input_tokens",)
    audio_input: tuple[str, ...] = ("gen_ai.usage.audio.input_tokens",)  # the genai repo's per-modality names
    audio_output: tuple[str, ...] = ("gen_ai.usage.audio.output_tokens",)
    image_input: tuple[str, ...] = ("gen_ai.usage.image.input_tokens",)
    image_output: tuple[str, ...] = ("gen_ai.usage.image.output_tokens",)
    error_type: tuple[str, ...] = ("error.type",)
    streaming: tuple[str, ...] = ()
    ttft_seconds: tuple[str, ...] = ()
    ttft_ms: tuple[str, ...] = ()
    service_tier: tuple[str, ...] = ()
    server_address: tuple[str, ...] = ("server.address",)
    emitter_cost: tuple[str, ...] = ()
    web_searches: tuple[str, ...] = ()

    def keys(self) -> frozenset[str]:
        return frozenset(key for names in (getattr(self, f) for f in self.__slots__) for key in names)


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
    if not reasoning and not any(issues):
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
        operation=operation or text(attributes, fields.operation) or "chat",
        request_model=text(attributes, fields.request_model),
        response_model=text(attributes, fields.response_model),
        response_id=text(attributes, fields.response_id),
        input_tokens=input_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
        error_type=error_type(span, fields.error_type),
        streaming=_streaming(attributes, fields.streaming, ttft_ms) if streaming is None else streaming,
        ttft_ms=ttft_ms,
        service_tier=text(attributes, fields.service_tier),
        server_address=server_address,
        emitter_cost_usd=_decimal(first(attributes, fields.emitter_cost)),
        usage_issue="; ".join(i for i in issues if i),
        # Parts of the counts above, priced at their own rates: never larger than what they are part of.
        cache_write_1h_tokens=min(token_count(attributes, fields.cache_write_1h), cache_write),
        audio_input_tokens=min(token_count(attributes, fields.audio_input), input_tokens),
        audio_output_tokens=min(token_count(attributes, fields.audio_output), output_tokens),
        image_input_tokens=min(token_count(attributes, fields.image_input), input_tokens),
        image_output_tokens=min(token_count(attributes, fields.image_output), output_tokens),
        web_searches=token_count(attributes, fields.web_searches),
    )


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
