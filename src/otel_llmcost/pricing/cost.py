"""Pricing one call: the units of each kind (kinds.py) x the rates in effect at the call's time, in exact
Decimal.

Rules in docs/pricing.md. Counts follow our convention: input includes cache reads, cache writes and audio
input; output includes reasoning and audio output; each kind is charged for its own units only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from otel_llmcost.kinds import COST_COLUMNS, COUNTS, KINDS, Kind, billed_units
from otel_llmcost.model import Cost, LlmCall
from otel_llmcost.pricing.book import PriceBook, Rates

_STORE_SCALE = Decimal("1e-12")  # the store's Decimal(38, 12) scale
_ZERO = Decimal(0).quantize(_STORE_SCALE)
_CHARGES: dict[int, tuple[Rates, tuple[tuple[Kind, Decimal, int | None, bool], ...]]] = {}  # id(rates) -> _charges
_MAX_CHARGES = 100_000


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
    costs = dict.fromkeys(COST_COLUMNS, _ZERO)
    for kind, price, exponent, fell_back in _charges(rates):
        count = units[kind.rate]
        if not count:
            continue  # adds nothing: a zero amount has the store's scale already
        if fell_back:
            estimates.append(f"no {kind.rate} price: charged at the {kind.fallback} rate" if kind.fallback
                             else f"no {kind.rate} price: {count} x {kind.unit} not charged")
        amount = (price * count).scaleb(-exponent) if exponent is not None else price * count / kind.per
        costs[kind.cost] += _round(amount)  # scaleb: / 10**n, exactly
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


def _charges(rates: Rates) -> tuple[tuple[Kind, Decimal, int | None, bool], ...]:
    """(kind, price charged, the power of ten of its `per` or None, whether that price is a fallback) for every
    kind, in KINDS order (a later kind may fall back to an earlier one's price): worked out once per rates
    of the price book, not per call."""
    known = _CHARGES.get(id(rates))
    if known is not None and known[0] is rates:  # the rates object itself: an id is reused only once it is gone
        return known[1]
    charged: dict[str, Decimal] = {}  # rate key -> the price charged
    charges = []
    for kind in KINDS:
        price = getattr(rates, kind.rate)
        fell_back = price is None and kind.estimate_on_fallback
        if price is None:
            price = charged[kind.fallback] if kind.fallback else _ZERO
        charged[kind.rate] = price
        exponent = len(str(kind.per)) - 1
        charges.append((kind, price, exponent if kind.per == 10 ** exponent else None, fell_back))
    if len(_CHARGES) >= _MAX_CHARGES:  # price books reloaded many times: start again
        _CHARGES.clear()
    worked_out = tuple(charges)
    _CHARGES[id(rates)] = (rates, worked_out)
    return worked_out


def _round(amount: Decimal) -> Decimal:
    return amount.quantize(_STORE_SCALE, rounding=ROUND_HALF_EVEN)
