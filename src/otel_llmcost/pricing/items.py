"""One item of a price book file -> its value: a price entry, a deployment, an alias period, an adjustment.

Each raises ValueError saying what is wrong; pricing/loader.py adds the file and line.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from otel_llmcost.kinds import KINDS, RATE_KEYS
from otel_llmcost.pricing.book import Adjustment, PriceEntry, Rates

_ENTRY_KEYS = frozenset({"id", "provider", "models", "pattern", "effective_from", "service_tier", "tiers",
                         "time_of_day", "uncertain", "once_per_call", *RATE_KEYS})
_TIER_KEYS = frozenset({"above_input_tokens", *RATE_KEYS})
_HOURS_KEYS = frozenset({"utc", *RATE_KEYS})
_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
_ADJUSTMENT_KEYS = frozenset({"id", "tenant", "provider", "models", "pattern", "multiplier", "effective_from",
                              "effective_until"})
_DEPLOYMENT_KEYS = frozenset({"provider", "name", "model"})
_ALIAS_KEYS = frozenset({"provider", "name", "model", "effective_from", "source"})


def entry(item: object, version: str) -> PriceEntry:
    raw = _mapping(item, _ENTRY_KEYS)
    providers, models, pattern = _match(raw, required=True)
    rates = _rates(raw, None)
    tiers = []
    for tier_item in raw.get("tiers") or []:
        tier = _mapping(tier_item, _TIER_KEYS, "tier")
        threshold = tier.get("above_input_tokens")
        if not isinstance(threshold, int) or threshold <= 0:
            raise ValueError("a tier needs 'above_input_tokens', a positive whole number")
        tiers.append((threshold, _rates(tier, rates)))
    if [t for t, _ in tiers] != sorted({t for t, _ in tiers}):
        raise ValueError("tier thresholds must be distinct and ascending")
    time_of_day = _time_of_day(raw.get("time_of_day") or [], rates)
    if tiers and time_of_day:
        raise ValueError("an entry has context-length 'tiers' or 'time_of_day' prices, not both")
    effective_from = _utc(raw.get("effective_from"), "effective_from")
    service_tier = str(raw.get("service_tier") or "").lower()
    uncertain = _uncertain(raw.get("uncertain") or {})
    once_per_call = _once_per_call(raw.get("once_per_call") or [])
    label = sorted(models)[0] if models else raw.get("pattern")
    default_id = f"{providers[0]}/{label}@{effective_from.date()}" + (f"#{service_tier}" if service_tier else "")
    return PriceEntry(
        price_id=str(raw.get("id") or default_id), providers=providers, models=models, pattern=pattern,
        effective_from=effective_from, service_tier=service_tier, rates=rates, tiers=tuple(tiers),
        book_version=version, time_of_day=time_of_day, uncertain=uncertain, once_per_call=once_per_call,
    )


def _once_per_call(raw: object) -> frozenset[str]:
    """[rate, ...]: rates of counted units charged once for a call that has any (Gemini 2.x grounding is billed
    per grounded prompt, however many searches it ran)."""
    counted = [kind.rate for kind in KINDS if kind.count]
    if not isinstance(raw, list) or not all(isinstance(rate, str) and rate in counted for rate in raw):
        raise ValueError(f"'once_per_call' must be a list of counted rate kinds ({', '.join(counted)})")
    return frozenset(raw)


def _uncertain(raw: object) -> tuple[tuple[str, str], ...]:
    """'why' (the whole price) or {kind: 'why'} (those rates) -> ((kind or "", why), ...)."""
    if isinstance(raw, str):
        return (("", raw),)
    if not isinstance(raw, dict) or not all(isinstance(why, str) and why for why in raw.values()):
        raise ValueError("'uncertain' must be text (why the price is not known exactly) or {rate kind: text}")
    unknown = set(raw) - set(RATE_KEYS)
    if unknown:
        raise ValueError(f"'uncertain' names {sorted(unknown)}, not rate kinds ({', '.join(RATE_KEYS)})")
    return tuple(raw.items())


def _time_of_day(raw_hours: object, base: Rates) -> tuple[tuple[int, int, Rates], ...]:
    """[{utc: "16:30-00:30", <rates>}] -> (start minute, end minute, rates); the hours may wrap midnight and
    must not overlap."""
    if not isinstance(raw_hours, list):
        raise ValueError("'time_of_day' must be a list")
    hours, taken = [], set[int]()
    for raw_item in raw_hours:
        item = _mapping(raw_item, _HOURS_KEYS, "time_of_day item")
        found = _HOURS.fullmatch(str(item.get("utc", "")))
        if not found:
            raise ValueError("a time_of_day item needs 'utc': \"HH:MM-HH:MM\" (UTC, the end exclusive)")
        h1, m1, h2, m2 = map(int, found.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        minutes = set(range(start, end) if start < end else [*range(start, 1440), *range(end)])
        if not minutes or minutes & taken:
            raise ValueError(f"time_of_day {item['utc']!r} is empty or overlaps another")
        taken |= minutes
        hours.append((start, end, _rates(item, base)))
    return tuple(hours)


def _rates(raw: dict, base: Rates | None) -> Rates:
    prices = {kind: _price(raw, kind) for kind in RATE_KEYS}
    if base is not None:  # a tier inherits every rate it does not change
        prices = {kind: prices[kind] if prices[kind] is not None else getattr(base, kind) for kind in RATE_KEYS}
    for kind in KINDS:
        if kind.required and prices[kind.rate] is None:
            raise ValueError(f"'{kind.rate}' price is required")
    return Rates(**prices)


def deployment(item: object, _version: str) -> tuple[tuple[str, str], str]:
    raw = _mapping(item, _DEPLOYMENT_KEYS, "deployment")
    if not all(isinstance(raw.get(k), str) and raw.get(k) for k in _DEPLOYMENT_KEYS):
        raise ValueError("a deployment needs 'provider', 'name' and 'model'")
    return (raw["provider"].lower(), raw["name"].lower()), raw["model"]


def alias(item: object, _version: str) -> tuple[tuple[str, str], datetime, str]:
    """From `effective_from`, alias `name` of `provider` pointed to snapshot `model`."""
    raw = _mapping(item, _ALIAS_KEYS, "alias")
    if not all(isinstance(raw.get(k), str) and raw.get(k) for k in ("provider", "name", "model")):
        raise ValueError("an alias needs 'provider', 'name', 'model' and 'effective_from'")
    return (raw["provider"].lower(), raw["name"].lower()), _utc(raw.get("effective_from"), "effective_from"), \
        raw["model"].lower()


def adjustment(item: object, _version: str) -> Adjustment:
    raw = _mapping(item, _ADJUSTMENT_KEYS, "adjustment")
    providers, models, pattern = _match(raw, required=False)
    multiplier = _price(raw, "multiplier")
    if multiplier is None:
        raise ValueError("'multiplier' is required (e.g. \"0.8\" for 20% off)")
    until = raw.get("effective_until")
    return Adjustment(
        adjustment_id=str(raw.get("id") or f"adjustment-{raw.get('tenant', 'all')}"),
        tenant=str(raw.get("tenant") or ""), providers=providers, models=models, pattern=pattern,
        multiplier=multiplier, effective_from=_utc(raw.get("effective_from"), "effective_from"),
        effective_until=_utc(until, "effective_until") if until is not None else None,
    )


def _mapping(raw: object, allowed: frozenset[str], what: str = "entry") -> dict[str, Any]:
    """`raw` itself, once it is a mapping of allowed keys only."""
    if not isinstance(raw, dict):
        raise ValueError(f"an {what} must be a mapping")
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    return raw


def _match(raw: dict, required: bool) -> tuple[tuple[str, ...], frozenset[str], re.Pattern | None]:
    providers = raw.get("provider")
    providers = [providers] if isinstance(providers, str) else providers or []
    if required and not providers or not all(isinstance(p, str) and p for p in providers):
        raise ValueError("'provider' must be a name or a list of names")
    models = raw.get("models") or []
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ValueError("'models' must be a list of model ids")
    pattern = raw.get("pattern")
    if required and not models and not pattern:
        raise ValueError("needs 'models' or 'pattern'")
    try:
        compiled = re.compile(pattern, re.IGNORECASE) if pattern else None
    except re.error as exc:
        raise ValueError(f"'pattern' is not a valid regex: {exc}") from exc
    return tuple(p.lower() for p in providers), frozenset(m.lower() for m in models), compiled


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


def _utc(value: object, key: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, str):
        try:
            return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")), key)
        except ValueError:
            pass
    raise ValueError(f"'{key}' must be a date or ISO datetime, got {value!r}")
