"""The price book: versioned per-model prices from YAML layers (bundled first, user files on top).

The format and the lookup rules are in docs/pricing.md. Files are read by pricing/loader.py; this module
holds the immutable result and answers "which entry prices this call".
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from otel_llmcost.kinds import with_kind_fields
from otel_llmcost.pricing.models import candidate_names

STANDARD_TIER = ""
_MEMO_LIMIT = 10_000
#: What emitters report for the standard service tier.
_STANDARD_TIER_NAMES = frozenset({"", "default", "auto", "standard", "on_demand", "on-demand"})


@with_kind_fields(lambda kind: (kind.rate, "Decimal | None", dataclasses.MISSING))
@dataclass(frozen=True, slots=True)
class Rates:
    """The price of each kind (kinds.py): USD per `kind.per` units, None where the entry gives none (input
    and output are always given)."""

    if TYPE_CHECKING:  # the fields with_kind_fields adds (kinds.py), for mypy; tests/test_billable_units.py
        input: Decimal | None
        cache_read: Decimal | None
        cache_write: Decimal | None
        output: Decimal | None
        reasoning: Decimal | None
        cache_write_1h: Decimal | None
        audio_input: Decimal | None
        audio_output: Decimal | None
        image_input: Decimal | None
        image_output: Decimal | None
        per_request: Decimal | None
        per_search: Decimal | None
        per_1k_file_searches: Decimal | None
        per_image: Decimal | None
        per_audio_minute: Decimal | None


@dataclass(frozen=True, slots=True)
class PriceEntry:
    price_id: str
    providers: tuple[str, ...]
    models: frozenset[str]  # lower-case exact model ids
    pattern: re.Pattern | None
    effective_from: datetime
    service_tier: str  # "" = standard
    rates: Rates
    tiers: tuple[tuple[int, Rates], ...]  # (above_input_tokens, rates), ascending thresholds
    book_version: str
    # time-of-day prices: (first minute of the UTC day, minute it ends (exclusive, may wrap midnight), rates)
    time_of_day: tuple[tuple[int, int, Rates], ...] = ()
    # rates not known exactly, (rate kind or "" for all, why): calls with such tokens are marked 'estimated'
    uncertain: tuple[tuple[str, str], ...] = ()

    def rates_for(self, input_tokens: int, at: datetime) -> tuple[Rates, str]:
        """The rates for a call of this size starting at `at`, and the tier's or hours' label ("" for the base
        rates). An entry has context-length tiers or time-of-day prices, never both (the loader checks)."""
        if self.time_of_day:
            minute = at.hour * 60 + at.minute
            for start, end, rates in self.time_of_day:
                if (start <= minute < end) if start < end else (minute >= start or minute < end):
                    return rates, f"{start // 60:02}:{start % 60:02}-{end // 60:02}:{end % 60:02} UTC"
            return self.rates, ""
        chosen, label = self.rates, ""
        for threshold, rates in self.tiers:
            if input_tokens > threshold:
                chosen, label = rates, f">{threshold}"
        return chosen, label


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A contract discount or surcharge: the whole cost of matching calls is multiplied."""

    adjustment_id: str
    tenant: str  # "" = every tenant
    providers: tuple[str, ...]  # () = every provider
    models: frozenset[str]
    pattern: re.Pattern | None
    multiplier: Decimal
    effective_from: datetime
    effective_until: datetime | None

    def applies(self, tenant: str, provider: str, model: str, at: datetime) -> bool:
        if self.tenant and self.tenant != tenant or self.providers and provider not in self.providers:
            return False
        if (self.models or self.pattern) and not (
            model.lower() in self.models or (self.pattern is not None and self.pattern.fullmatch(model))
        ):
            return False
        return self.effective_from <= at and (self.effective_until is None or at < self.effective_until)


@dataclass(frozen=True, slots=True)
class Layer:
    source: str
    version: str
    entries: tuple[PriceEntry, ...]
    deployments: dict[tuple[str, str], str]  # (provider, lower-case deployment name) -> model
    adjustments: tuple[Adjustment, ...]
    # (provider, lower-case alias) -> ((from, the snapshot it points to), ...), ascending: what a moving
    # alias ("gpt-4o") named on each day, so a call naming only the alias is priced as that snapshot
    aliases: dict[tuple[str, str], tuple[tuple[datetime, str], ...]] = field(default_factory=dict)


_NO_MULTIPLIER = Decimal(1)


class PriceBook:
    """Immutable after construction and safe to share between threads (the memos hold one entry per
    provider and model seen, and start over past _MEMO_LIMIT so made-up model names cannot grow them)."""

    def __init__(self, layers: list[Layer]):
        self.layers = tuple(layers)
        self._by_precedence = tuple(reversed(layers))
        self._rank = {id(entry): index for index, layer in enumerate(self.layers) for entry in layer.entries}
        self._memo: dict[tuple[str, str, str], tuple] = {}
        self._providers_memo: dict[str, list[str]] = {}
        self._names_memo: dict[tuple[str, str], list[str]] = {}
        self._history_memo: dict[tuple[str, str], tuple] = {}

    def __reduce__(self) -> tuple:
        """Pickled as its layers (an ingest worker gets the receiver's book): the rank is keyed by identity."""
        return PriceBook, (list(self.layers),)

    @property
    def version(self) -> str:
        return "+".join(layer.version for layer in self.layers)

    def lookup(self, provider: str, model: str, at: datetime, service_tier: str = "") -> tuple[PriceEntry | None, str]:
        """The entry pricing `model` of `provider` at `at`, and a note when a fallback was used."""
        tier = "" if service_tier.lower() in _STANDARD_TIER_NAMES else service_tier.lower()
        found = self._lookup_names(provider, self._names(provider, model), at, tier)
        snapshot = self._snapshot(provider, model, at)
        if snapshot:  # the snapshot's price, unless a higher layer prices the alias itself
            pinned = self._lookup_names(provider, self._names(provider, snapshot), at, tier)
            if pinned[0] is not None and (found[0] is None or self._rank[id(pinned[0])] >= self._rank[id(found[0])]):
                return pinned
        return found

    def _lookup_names(self, provider: str, names: list[str], at: datetime,
                      tier: str) -> tuple[PriceEntry | None, str]:
        for name in names:
            entry = self._find(provider, name, at, tier)
            if entry is not None:
                return entry, ""
            if tier:
                entry = self._find(provider, name, at, STANDARD_TIER)
                if entry is not None:
                    return entry, f"no {tier!r} service-tier price; priced at the standard rate"
        return None, ""

    def providers_for(self, model: str) -> list[str]:
        """Providers whose entries price this model, highest layer first (for spans that name none)."""
        known = self._providers_memo.get(model)
        if known is None:
            known = _remember(self._providers_memo, model, self._providers_for(model))
        return known

    def _providers_for(self, model: str) -> list[str]:
        found: dict[str, None] = {}
        for layer in self._by_precedence:
            for entry in layer.entries:
                for name in candidate_names("", model):
                    if name in entry.models or (entry.pattern is not None and entry.pattern.fullmatch(name)):
                        found.update(dict.fromkeys(entry.providers))
        return list(found)

    def multiplier(self, tenant: str, provider: str, model: str, at: datetime) -> tuple[Decimal, str]:
        """The contract adjustment of the highest layer that has one for this call."""
        for layer in self._by_precedence:
            for adjustment in layer.adjustments:
                if adjustment.applies(tenant, provider, model, at):
                    return adjustment.multiplier, adjustment.adjustment_id
        return _NO_MULTIPLIER, ""

    def _snapshot(self, provider: str, model: str, at: datetime) -> str:
        """The snapshot an alias pointed to at `at`, from the highest layer that knows the alias ("" if none)."""
        key = (provider, model)
        history = self._history_memo.get(key)
        if history is None:
            history = _remember(self._history_memo, key, self._history(provider, model))
        index = bisect_right(history[0], at) if history[0] else 0
        return history[1][index - 1] if index else ""

    def _history(self, provider: str, model: str) -> tuple[tuple[datetime, ...], tuple[str, ...]]:
        for layer in self._by_precedence:
            for name in candidate_names(provider, model) if layer.aliases else ():
                periods = layer.aliases.get((provider, name))
                if periods:
                    return tuple(start for start, _ in periods), tuple(snapshot for _, snapshot in periods)
        return (), ()

    def _names(self, provider: str, model: str) -> list[str]:
        key = (provider, model)
        names = self._names_memo.get(key)
        if names is None:
            names = _remember(self._names_memo, key, self._resolve_names(provider, model))
        return names

    def _resolve_names(self, provider: str, model: str) -> list[str]:
        names = candidate_names(provider, model)
        for layer in self._by_precedence:
            mapped = layer.deployments.get((provider, model.lower()))
            if mapped:
                names.insert(0, mapped.lower())
        return list(dict.fromkeys(names))

    def _find(self, provider: str, model: str, at: datetime, tier: str) -> PriceEntry | None:
        key = (provider, model, tier)
        candidates = self._memo.get(key)
        if candidates is None:
            candidates = _remember(self._memo, key, self._candidates(*key))
        for starts, entries in candidates:
            index = bisect_right(starts, at)
            if index:
                return entries[index - 1]
        return None

    def _candidates(self, provider: str, model: str, tier: str):
        found = []
        for layer in self._by_precedence:
            mine = [e for e in layer.entries if provider in e.providers and e.service_tier == tier]
            exact = [e for e in mine if model in e.models]
            by_pattern = [e for e in mine if e.pattern is not None and e.pattern.fullmatch(model)]
            for group in (exact, by_pattern):
                if group:
                    group.sort(key=lambda e: e.effective_from)
                    found.append(([e.effective_from for e in group], group))
        return tuple(found)


def _remember(memo: dict, key, value):
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value
