"""Pricing one call: tokens by kind x the rates in effect at the call's time, in exact Decimal.

Rules in docs/pricing.md. Token counts follow our convention: input includes cache reads, cache writes and
audio input; output includes reasoning and audio output.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from otel_llmcost.model import Cost, LlmCall
from otel_llmcost.pricing.book import PriceBook

_STORE_SCALE = Decimal("1e-12")  # the store's Decimal(38, 12) scale
_ZERO = Decimal(0).quantize(_STORE_SCALE)


def price_call(call: LlmCall, at: datetime, price_book: PriceBook, tenant: str = "") -> Cost:
    """Price the call; an unknown model gives an 'unpriced' Cost with NULL amounts and the reason."""
    if call.usage_issue:
        return Cost("invalid_usage", call.usage_issue, "", price_book.version)
    entry, note = None, ""
    for model in (call.response_model, call.request_model):
        if model:
            entry, note = price_book.lookup(call.provider, model, at, call.service_tier)
            if entry is not None:
                break
    if entry is None and call.error_type and not _billable(call):
        # A failed try that used nothing costs nothing, whatever model it names (or none: it failed before the
        # library learnt it; a deployment name only its answer would have resolved).
        return _zero_cost("failed call without usage", price_book.version)
    if entry is None:
        model = call.response_model or call.request_model
        reason = "no model name on the span" if not model else (
            f"no price for model {model!r} of provider {call.provider or '(unknown)'!r} at {at.date()}"
        )
        return Cost("unpriced", reason, "", price_book.version)

    rates, tier = entry.rates_for(call.input_tokens, at)
    estimates = [note] if note else []  # fallbacks: the cost is an estimate

    def rate(kind: str, fallback: Decimal, fallback_kind: str, tokens: int) -> Decimal:
        price = getattr(rates, kind)
        if price is None and tokens:
            estimates.append(f"no {kind} price: charged at the {fallback_kind} rate")
        return fallback if price is None else price

    write_1h = min(call.cache_write_1h_tokens, call.cache_write_tokens)
    write_5m = call.cache_write_tokens - write_1h
    audio_in = min(call.audio_input_tokens, call.input_tokens)
    audio_out = min(call.audio_output_tokens, call.output_tokens)
    image_in = min(call.image_input_tokens, call.input_tokens)
    image_out = min(call.image_output_tokens, call.output_tokens)
    uncached_input = max(call.input_tokens - call.cache_read_tokens - call.cache_write_tokens - audio_in - image_in, 0)
    visible_output = max(call.output_tokens - call.reasoning_tokens - audio_out - image_out, 0)

    if entry.uncertain:  # rates not known exactly: an estimate if the call has tokens they price
        by_kind = {"input": uncached_input, "cache_read": call.cache_read_tokens, "cache_write": write_5m,
                   "cache_write_1h": write_1h, "output": visible_output, "reasoning": call.reasoning_tokens,
                   "audio_input": audio_in, "audio_output": audio_out, "image_input": image_in,
                   "image_output": image_out}
        estimates += [why for kind, why in entry.uncertain if not kind or by_kind[kind]]

    input_cost = _amount(uncached_input, rates.input)
    cache_read_cost = _amount(call.cache_read_tokens, rate("cache_read", rates.input, "input", call.cache_read_tokens))
    cache_write_price = rate("cache_write", rates.input, "input", call.cache_write_tokens)
    cache_write_cost = _amount(write_5m, cache_write_price) + _amount(
        write_1h, rate("cache_write_1h", cache_write_price, "cache_write", write_1h))
    output_cost = _amount(visible_output, rates.output)
    reasoning_cost = _amount(call.reasoning_tokens, rates.reasoning if rates.reasoning is not None else rates.output)
    audio_cost = _amount(audio_in, rate("audio_input", rates.input, "input", audio_in)) + _amount(
        audio_out, rate("audio_output", rates.output, "output", audio_out))
    # Image tokens are billed at the text rates unless the entry lists image rates (price lists name an image rate
    # only where it differs): no estimate.
    image_cost = _amount(image_in, rates.image_input if rates.image_input is not None else rates.input) + _amount(
        image_out, rates.image_output if rates.image_output is not None else rates.output)
    fee = (entry.per_request or _ZERO).quantize(_STORE_SCALE)
    if call.web_searches and entry.per_search is None:
        estimates.append(f"no per-search price: {call.web_searches} web searches not charged")
    search_fee = _round((entry.per_search or _ZERO) * call.web_searches)
    parts = [input_cost, cache_read_cost, cache_write_cost, output_cost, reasoning_cost, audio_cost, image_cost, fee,
             search_fee]

    notes = list(estimates)
    multiplier, adjustment = price_book.multiplier(tenant, call.provider, call.response_model or call.request_model, at)
    if adjustment:
        parts = [_round(part * multiplier) for part in parts]
        notes.append(f"x{multiplier} ({adjustment})")
    return Cost(
        status="estimated" if estimates else "priced",
        note="; ".join(notes),
        price_id=entry.price_id,
        price_book_version=entry.book_version,
        price_tier=tier,
        price_multiplier=multiplier,
        input_cost_usd=parts[0],
        cache_read_cost_usd=parts[1],
        cache_write_cost_usd=parts[2],
        output_cost_usd=parts[3],
        reasoning_cost_usd=parts[4],
        audio_cost_usd=parts[5],
        image_cost_usd=parts[6],
        request_fee_usd=parts[7],
        search_fee_usd=parts[8],
        cost_usd=sum(parts, _ZERO),
    )


def _zero_cost(note: str, version: str) -> Cost:
    return Cost("priced", note, "", version, input_cost_usd=_ZERO, cache_read_cost_usd=_ZERO,
                cache_write_cost_usd=_ZERO, output_cost_usd=_ZERO, reasoning_cost_usd=_ZERO, audio_cost_usd=_ZERO,
                image_cost_usd=_ZERO, request_fee_usd=_ZERO, search_fee_usd=_ZERO, cost_usd=_ZERO)


def _billable(call: LlmCall) -> bool:
    return bool(call.input_tokens or call.output_tokens or call.web_searches)


def _amount(tokens: int, usd_per_million: Decimal) -> Decimal:
    return _round((usd_per_million * tokens).scaleb(-6)) if tokens else _ZERO  # scaleb: / 10**6, exactly


def _round(amount: Decimal) -> Decimal:
    return amount.quantize(_STORE_SCALE, rounding=ROUND_HALF_EVEN)
