"""The price book: versioned per-model prices, loaded from YAML layers (bundled first, user files on top).

Lookup rule, in this order:
1. the highest layer (the last user file) that has an entry for the provider and model in effect at the
   call's time wins, so a user's custom or corrected price overrides the bundled one from its date on;
2. within a layer, entries naming the model exactly beat pattern entries;
3. among those, the entry with the latest `effective_from` not after the call's time wins.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from pathlib import Path

import yaml

from otel_llmcost.errors import PriceBookError, yaml_problem

TOKEN_KINDS = ("input", "cache_read", "cache_write", "output", "reasoning")
_REQUIRED_PRICES = ("input", "output")
_ENTRY_KEYS = frozenset({"id", "provider", "models", "pattern", "effective_from", *TOKEN_KINDS})


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """USD per million tokens of each kind for one model, from `effective_from` on."""

    price_id: str
    providers: tuple[str, ...]
    models: frozenset[str]  # lower-case exact model ids
    pattern: re.Pattern | None
    effective_from: datetime
    input: Decimal
    cache_read: Decimal | None
    cache_write: Decimal | None
    output: Decimal
    reasoning: Decimal | None
    book_version: str


@dataclass(frozen=True, slots=True)
class _Layer:
    version: str
    entries: tuple[PriceEntry, ...]


class PriceBook:
    """Immutable, thread-safe after construction; lookups are memoized per (provider, model)."""

    def __init__(self, layers: list[_Layer]):
        self._layers = tuple(reversed(layers))  # highest precedence first
        self._memo: dict[tuple[str, str], tuple[tuple[list[datetime], list[PriceEntry]], ...]] = {}

    @property
    def version(self) -> str:
        return "+".join(layer.version for layer in reversed(self._layers))

    def lookup(self, provider: str, model: str, at: datetime) -> PriceEntry | None:
        """The entry that prices `model` from `provider` at time `at` (UTC), or None."""
        key = (provider, model.lower())
        candidates = self._memo.get(key)
        if candidates is None:
            candidates = self._memo[key] = self._candidates(*key)
        for starts, entries in candidates:
            index = bisect_right(starts, at)
            if index:
                return entries[index - 1]
        return None

    def _candidates(self, provider: str, model: str):
        found = []
        for layer in self._layers:
            mine = [e for e in layer.entries if provider in e.providers]
            exact = [e for e in mine if model in e.models]
            by_pattern = [e for e in mine if e.pattern is not None and e.pattern.fullmatch(model)]
            for group in (exact, by_pattern):
                if group:
                    group.sort(key=lambda e: e.effective_from)
                    found.append(([e.effective_from for e in group], group))
        return tuple(found)


def load_price_book(user_files: tuple[str, ...] | list[str] = ()) -> PriceBook:
    """The bundled default price book with the user's files layered on top, in order."""
    bundled = files("otel_llmcost.pricing").joinpath("data/default_prices.yaml")
    layers = [_load_layer(bundled.read_text(encoding="utf-8"), "bundled default_prices.yaml")]
    for path in user_files:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PriceBookError(f"{path}: cannot read price book: {exc.strerror}") from exc
        layers.append(_load_layer(text, path))
    return PriceBook(layers)


def _load_layer(text: str, source: str) -> _Layer:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PriceBookError(f"{source}: not valid YAML: {yaml_problem(exc)}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("prices"), list):
        raise PriceBookError(f"{source}: expected a mapping with a 'prices' list")
    version = str(document.get("version") or Path(source).stem)
    errors: list[str] = []
    entries = []
    seen_ids: set[str] = set()
    for index, raw in enumerate(document["prices"]):
        try:
            entry = _entry(raw, version)
        except ValueError as exc:
            errors.append(f"prices[{index}]: {exc}")
            continue
        if entry.price_id in seen_ids:
            errors.append(f"prices[{index}]: duplicate id {entry.price_id!r}")
        seen_ids.add(entry.price_id)
        entries.append(entry)
    if errors:
        raise PriceBookError(f"{source}: " + "; ".join(errors))
    return _Layer(version, tuple(entries))


def _entry(raw: object, version: str) -> PriceEntry:
    if not isinstance(raw, dict):
        raise ValueError("an entry must be a mapping")
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    providers = raw.get("provider")
    providers = [providers] if isinstance(providers, str) else providers
    if not providers or not all(isinstance(p, str) and p for p in providers):
        raise ValueError("'provider' must be a name or a list of names")
    models = raw.get("models") or []
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ValueError("'models' must be a list of model ids")
    pattern = raw.get("pattern")
    if not models and not pattern:
        raise ValueError("needs 'models' or 'pattern'")
    try:
        compiled = re.compile(pattern, re.IGNORECASE) if pattern else None
    except re.error as exc:
        raise ValueError(f"'pattern' is not a valid regex: {exc}") from exc
    prices = {kind: _price(raw, kind) for kind in TOKEN_KINDS}
    for kind in _REQUIRED_PRICES:
        if prices[kind] is None:
            raise ValueError(f"'{kind}' price is required")
    effective_from = _utc(raw.get("effective_from"))
    label = models[0] if models else pattern
    price_id = str(raw.get("id") or f"{providers[0]}/{label}@{effective_from.date().isoformat()}")
    return PriceEntry(
        price_id=price_id,
        providers=tuple(p.lower() for p in providers),
        models=frozenset(m.lower() for m in models),
        pattern=compiled,
        effective_from=effective_from,
        book_version=version,
        **prices,
    )


def _price(raw: dict, kind: str) -> Decimal | None:
    value = raw.get(kind)
    if value is None:
        return None
    if isinstance(value, float):
        # YAML floats are binary approximations; money must be written exactly.
        raise ValueError(f"'{kind}' must be quoted (\"{value}\") so it is an exact decimal")
    try:
        price = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"'{kind}' is not a number: {value!r}") from exc
    if not price.is_finite() or price < 0:
        raise ValueError(f"'{kind}' must be a non-negative number")
    return price


def _utc(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, str):
        try:
            return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise ValueError(f"'effective_from' must be a date or ISO datetime, got {value!r}")
