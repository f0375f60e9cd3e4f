"""Pricing one call: the units of each kind (kinds.py) x the rates in effect at the call's time, in exact
Decimal.

Rules in docs/pricing.md. Counts follow our convention: input includes cache reads, cache writes and audio
input; output includes reasoning and audio output; each kind is charged for its own units only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from otel_llmcost.kinds import COST_COLUMNS, COUNTS, KINDS, Kind, billed_unit_columns
from otel_llmcost.model import Cost, LlmCall
from otel_llmcost.pricing.book import PriceBook, PriceEntry, Rates

_STORE_SCALE = Decimal("1e-12")  # the store's Decimal(38, 12) scale
_ZERO = Decimal(0).quantize(_STORE_SCALE)
_CHARGES: dict[int, tuple[Rates, tuple[tuple[Kind, Decimal, int | None, bool], ...]]] = {}  # id(rates) -> _charges
_MAX_CHARGES = 100_000
_COST_FIELDS = [f.name for f in fields(Cost)]
if _COST_FIELDS[_COST_FIELDS.index("price_multiplier") + 1:] != [*COST_COLUMNS, "cost_usd"]:  # built positionally
    raise RuntimeError("Cost's amounts must follow price_multiplier in COST_COLUMNS order, then cost_usd")


def price_call(call: LlmCall, at: datetime, price_book: PriceBook, tenant: str = "") -> Cost:
    """Price the call; an unknown model gives an 'unpriced' Cost with NULL amounts and the reason."""
    return price_calls([call], [at], price_book, [tenant])[0]


def price_calls(calls: Sequence[LlmCall], ats: Sequence[datetime], price_book: PriceBook,
                tenants: Sequence[str]) -> list[Cost]:
    """Price a batch of calls, each at its time for its tenant, exactly as price_call prices each: every call's
    entry and adjustment are looked up on their own (a price may change at any instant), then the calls that
    share rates and multiplier are charged together, a kind (a column) at a time."""
    costs: list[Cost | None] = [None] * len(calls)
    groups: dict[tuple, list[int]] = {}  # (ids of entry and rates, multiplier, adjustment) -> indexes of its calls
    priced_by: dict[tuple, tuple[PriceEntry, Rates]] = {}
    tiers, notes = [""] * len(calls), [""] * len(calls)
    for index, (call, at, tenant) in enumerate(zip(calls, ats, tenants, strict=True)):
        if call.usage_issue:
            costs[index] = Cost("invalid_usage", call.usage_issue, "", price_book.version)
            continue
        entry, note = None, ""
        for model in (call.response_model, call.request_model):
            if model:
                entry, note = price_book.lookup(call.provider, model, at, call.service_tier)
                if entry is not None:
                    break
        if entry is None:
            costs[index] = _not_priced(call, at, price_book.version)
            continue
        rates, tiers[index] = entry.rates_for(call.input_tokens, at)
        notes[index] = note
        multiplier, adjustment = price_book.multiplier(tenant, call.provider, call.response_model or
                                                       call.request_model, at)
        key = (id(entry), id(rates), multiplier, adjustment)  # ids: hashing a whole entry costs more
        if key not in groups:
            groups[key], priced_by[key] = [], (entry, rates)
        groups[key].append(index)
    for key, indexes in groups.items():
        (entry, rates), (_, _, multiplier, adjustment) = priced_by[key], key
        charged = _charge([calls[i] for i in indexes], entry, rates, [notes[i] for i in indexes])
        for index, parts, estimates in zip(indexes, *charged, strict=True):
            amounts = [_round(part * multiplier) for part in parts] if adjustment else parts
            note = "; ".join([*estimates, f"x{multiplier} ({adjustment})"] if adjustment else estimates)
            costs[index] = Cost(  # type: ignore[call-arg]  # the amounts in field order: checked on import
                "estimated" if estimates else "priced", note, entry.price_id, entry.book_version, tiers[index],
                multiplier, *amounts, sum(amounts, _ZERO))
    return costs  # type: ignore[return-value]  # every call's cost is set above


def _not_priced(call: LlmCall, at: datetime, version: str) -> Cost:
    """The cost of a call no entry prices."""
    if call.error_type and not any(getattr(call, name) for name in COUNTS):
        # A failed try that used nothing costs nothing, whatever model it names (or none: it failed before the
        # library learnt it; a deployment name only its answer would have resolved).
        zeros: dict[str, Any] = dict.fromkeys(COST_COLUMNS, _ZERO)  # Cost keywords
        return Cost("priced", "failed call without usage", "", version, **zeros, cost_usd=_ZERO)
    model = call.response_model or call.request_model
    reason = "no model name on the span" if not model else (
        f"no price for model {model!r} of provider {call.provider or '(unknown)'!r} at {at.date()}"
    )
    return Cost("unpriced", reason, "", version)


def _charge(calls: list[LlmCall], entry: PriceEntry, rates: Rates,
            notes: list[str]) -> tuple[list[tuple[Decimal, ...]], list[list[str]]]:
    """Calls priced at the same rates: each call's amounts in COST_COLUMNS order, and why its cost is an
    estimate (fallbacks; empty when it is not one). Computed a kind at a time over all the calls."""
    units = billed_unit_columns({name: [getattr(call, name) for call in calls] for name in COUNTS}, len(calls))
    for rate in entry.once_per_call:
        units[rate] = [min(count, 1) for count in units[rate]]
    estimates = [[note] if note else [] for note in notes]
    for rate, why in entry.uncertain:  # rates not known exactly
        for index, count in enumerate(units[rate] if rate else [1] * len(calls)):
            if count:
                estimates[index].append(why)
    columns = {name: [_ZERO] * len(calls) for name in COST_COLUMNS}
    for kind, price, exponent, fell_back in _charges(rates):
        column = columns[kind.cost]
        for index, count in enumerate(units[kind.rate]):
            if not count:
                continue  # adds nothing: a zero amount has the store's scale already
            if fell_back:
                estimates[index].append(f"no {kind.rate} price: charged at the {kind.fallback} rate" if kind.fallback
                                        else f"no {kind.rate} price: {count} x {kind.unit} not charged")
            amount = (price * count).scaleb(-exponent) if exponent is not None else price * count / kind.per
            column[index] += _round(amount)  # scaleb: / 10**n, exactly
    return list(zip(*columns.values(), strict=True)), estimates


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
