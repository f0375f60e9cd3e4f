"""What a newer price book changes, by provider, model and date, and which stored calls that touches.

`otel-llmcost prices update` builds a new bundled book from the newer sources (scripts/build_price_book.py:
genai-prices, LiteLLM's model map) or reads one given, lists the changes here, and offers `reprice` for the
stored calls whose price differs between the two books (`repriced_calls`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from otel_llmcost.kinds import RATE_KEYS
from otel_llmcost.pricing.book import Layer, PriceBook, PriceEntry
from otel_llmcost.reports import queries


@dataclass(frozen=True)
class PriceChange:
    provider: str
    models: str  # the entry's model ids (or pattern), as the book lists them
    effective_from: datetime
    service_tier: str
    change: str  # "added", "removed", or "input 2.5 -> 2; output 10 -> 8"


def changes(old: Layer, new: Layer) -> list[PriceChange]:
    """Entries added, removed or repriced between two versions of a book, by provider, models and date."""
    before, after = _by_key(old), _by_key(new)
    found = []
    for key in sorted(before.keys() | after.keys(), key=lambda k: (k[0], k[1], k[2], k[3])):
        was, now = before.get(key), after.get(key)
        what = "added" if was is None else "removed" if now is None else _rate_changes(was, now)
        if what:
            found.append(PriceChange(key[0], key[1], key[2], key[3], what))
    return found


def _by_key(layer: Layer) -> dict[tuple[str, str, datetime, str], PriceEntry]:
    return {(entry.providers[0], _models(entry), entry.effective_from, entry.service_tier): entry
            for entry in layer.entries}


def _models(entry: PriceEntry) -> str:
    return ", ".join(sorted(entry.models)) or (entry.pattern.pattern if entry.pattern is not None else "")


def _rate_changes(was: PriceEntry, now: PriceEntry) -> str:
    parts = [f"{key} {_text(getattr(was.rates, key))} -> {_text(getattr(now.rates, key))}"
             for key in RATE_KEYS if getattr(was.rates, key) != getattr(now.rates, key)]
    if was.tiers != now.tiers or was.time_of_day != now.time_of_day:
        parts.append("tiers or hours changed")
    return "; ".join(parts)


def _text(price) -> str:
    return "none" if price is None else format(price.normalize(), "f")


def repriced_calls(store, old: PriceBook, new: PriceBook, since: datetime, until: datetime) -> list[dict]:
    """The stored calls' models (provider, model, calls, first) that the new book prices differently from the
    old at the first such call: the ones `reprice --since first` would change."""
    window = queries.time_range(since, until)
    found = []
    for row in store.query(queries.models_seen(store.database), window):
        first = datetime.fromisoformat(row["first"]).replace(tzinfo=timezone.utc)
        was, _ = old.lookup(row["provider"], row["model"], first)
        now, _ = new.lookup(row["provider"], row["model"], first)
        if (was and was.rates, was and was.price_id) != (now and now.rates, now and now.price_id):
            found.append(row)
    return found

