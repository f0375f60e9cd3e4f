"""Pricing one call: tokens by kind x the price entry in effect at the call's time, in exact Decimal."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from otel_llmcost.model import Cost, LlmCall
from otel_llmcost.pricing.book import PriceBook

_PER_TOKEN = Decimal(1_000_000)
_STORE_SCALE = Decimal("1e-12")  # the store's Decimal(38, 12) scale


def price_call(call: LlmCall, at: datetime, price_book: PriceBook) -> Cost:
    """Price the call; an unknown model gives an 'unpriced' Cost with NULL amounts and the reason."""
    if call.usage_issue:
        return Cost("invalid_usage", call.usage_issue, "", price_book.version, None, None, None, None, None, None)
    entry = None
    for model in dict.fromkeys(m for m in (call.response_model, call.request_model) if m):
        entry = price_book.lookup(call.provider, model, at)
        if entry is not None:
            break
    if entry is None:
        model = call.response_model or call.request_model
        reason = "no model name on the span" if not model else (
            f"no price for model {model!r} of provider {call.provider or '(unknown)'!r} at {at.date()}"
        )
        return Cost("unpriced", reason, "", price_book.version, None, None, None, None, None, None)

    notes = []
    cache_read_price = entry.cache_read
    if cache_read_price is None and call.cache_read_tokens:
        cache_read_price = entry.input
        notes.append("cache reads priced as input (no cache_read price)")
    cache_write_price = entry.cache_write
    if cache_write_price is None and call.cache_write_tokens:
        cache_write_price = entry.input
        notes.append("cache writes priced as input (no cache_write price)")

    uncached_input = call.input_tokens - call.cache_read_tokens - call.cache_write_tokens
    visible_output = call.output_tokens - call.reasoning_tokens
    input_cost = _amount(uncached_input, entry.input)
    cache_read_cost = _amount(call.cache_read_tokens, cache_read_price)
    cache_write_cost = _amount(call.cache_write_tokens, cache_write_price)
    output_cost = _amount(visible_output, entry.output)
    reasoning_cost = _amount(call.reasoning_tokens, entry.reasoning if entry.reasoning is not None else entry.output)
    total = input_cost + cache_read_cost + cache_write_cost + output_cost + reasoning_cost
    return Cost(
        status="estimated" if notes else "priced",
        note="; ".join(notes),
        price_id=entry.price_id,
        price_book_version=entry.book_version,
        input_cost_usd=input_cost,
        cache_read_cost_usd=cache_read_cost,
        cache_write_cost_usd=cache_write_cost,
        output_cost_usd=output_cost,
        reasoning_cost_usd=reasoning_cost,
        cost_usd=total,
    )


def _amount(tokens: int, usd_per_million: Decimal | None) -> Decimal:
    if not tokens or usd_per_million is None:
        return Decimal(0).quantize(_STORE_SCALE)
    return (usd_per_million * tokens / _PER_TOKEN).quantize(_STORE_SCALE, rounding=ROUND_HALF_EVEN)
