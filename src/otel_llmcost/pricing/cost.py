"""Pricing one call: the units of each kind (kinds.py) x the rates in effect at the call's time, in exact
Decimal.

Rules in docs/pricing.md. Counts follow our convention: input includes cache reads, cache writes and audio
input; output includes reasoning and audio output; each kind is charged for its own units only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from otel_llmcost.kinds import COST_COLUMNS, COUNTS, KINDS, billed_units
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
    units = billed_units({name: getattr(call, name) for name in COUNTS})
    for rate in entry.once_per_call:
        units[rate] = min(units[rate], 1)
    estimates = [note] if note else []  # fallbacks: the cost is an estimate
    estimates += [why for kind, why in entry.uncertain if not kind or units[kind]]  # rates not known exactly
    charged: dict[str, Decimal] = {}  # rate key -> the price charged (a later kind may fall back to it)
    costs = dict.fromkeys(COST_COLUMNS, _ZERO)
    for kind in KINDS:
        price = getattr(rates, kind.rate)
        if price is None:
            price = charged[kind.fallback] if kind.fallback else _ZERO
            if units[kind.rate] and kind.estimate_on_fallback:
                estimates.append(f"no {kind.rate} price: charged at the {kind.fallback} rate" if kind.fallback
                                 else f"no {kind.rate} price: {units[kind.rate]} x {kind.unit} not charged")
        charged[kind.rate] = price
        costs[kind.cost] += _amount(units[kind.rate], price, kind.per)
    parts = list(costs.values())

    notes = list(estimates)
    multiplier, adjustment = price_book.multiplier(tenant, call.provider, call.response_model or call.request_model, at)
    if adjustment:
        parts = [_round(part * multiplier) for part in parts]
        notes.append(f"x{multiplier} ({adjustment})")
    costs_by_column: dict[str, Any] = dict(zip(COST_COLUMNS, parts, strict=True))  # Cost keywords
    return Cost(
        status="estimated" if estimates else "priced",
        note="; ".join(notes),
        price_id=entry.price_id,
        price_book_version=entry.book_version,
        price_tier=tier,
        price_multiplier=multiplier,
        **costs_by_column,
        cost_usd=sum(parts, _ZERO),
    )


def _zero_cost(note: str, version: str) -> Cost:
    zeros: dict[str, Any] = dict.fromkeys(COST_COLUMNS, _ZERO)  # Cost keywords
    return Cost("priced", note, "", version, **zeros, cost_usd=_ZERO)


def _billable(call: LlmCall) -> bool:
    return any(getattr(call, name) for name in COUNTS)


def _amount(units: int, price: Decimal, per: int) -> Decimal:
    """USD for `units` at `price` per `per` units, rounded once to the store's scale."""
    if not units:
        return _ZERO
    exponent = len(str(per)) - 1
    if per == 10 ** exponent:
        return _round((price * units).scaleb(-exponent))  # scaleb: / 10**n, exactly
    return _round(price * units / per)


def _round(amount: Decimal) -> Decimal:
    return amount.quantize(_STORE_SCALE, rounding=ROUND_HALF_EVEN)
