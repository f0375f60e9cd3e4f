"""Price book files -> PriceBook, checked entry by entry; every problem is reported with file and line."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from pathlib import Path

import yaml

from otel_llmcost import __version__, kinds
from otel_llmcost.errors import PriceBookError, yaml_problem
from otel_llmcost.kinds import KINDS, RATE_KEYS
from otel_llmcost.pricing import book
from otel_llmcost.pricing.book import Adjustment, Layer, PriceBook, PriceEntry, Rates

logger = logging.getLogger(__name__)
# libyaml's parser when the wheel has it (ten times faster on the 500 kB bundled book); same constructor.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_ENTRY_KEYS = frozenset({"id", "provider", "models", "pattern", "effective_from", "service_tier", "tiers",
                         "time_of_day", "uncertain", *RATE_KEYS})
_TIER_KEYS = frozenset({"above_input_tokens", *RATE_KEYS})
_HOURS_KEYS = frozenset({"utc", *RATE_KEYS})
_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
_ADJUSTMENT_KEYS = frozenset({"id", "tenant", "provider", "models", "pattern", "multiplier", "effective_from",
                              "effective_until"})
_DEPLOYMENT_KEYS = frozenset({"provider", "name", "model"})
_TOP_KEYS = frozenset({"version", "source", "currency", "unit", "prices", "deployments", "adjustments", "aliases"})
_ALIAS_KEYS = frozenset({"provider", "name", "model", "effective_from", "source"})
BUNDLED = "bundled default_prices.yaml"
_BUNDLED_ALIASES = "bundled aliases.yaml"
_OUR_UNIT = "per_million_tokens"
#: a price book's `unit` (of its token prices) -> the factor to USD per million tokens
_TOKEN_UNITS = {_OUR_UNIT: 1, "per_thousand_tokens": 1_000, "per_token": 1_000_000}


def load_price_book(user_files: tuple[str, ...] | list[str] = (), cache_dir: str | None = None) -> PriceBook:
    """The bundled price book with the user's files layered on top, in order. With `cache_dir`, the parsed
    bundled book is kept there and reused while the YAML and this code are unchanged (startup)."""
    data = files("otel_llmcost.pricing").joinpath("data")
    text = data.joinpath("default_prices.yaml").read_text(encoding="utf-8")
    aliases = data.joinpath("aliases.yaml").read_text(encoding="utf-8")
    layers = [_bundled_layer(text, aliases, cache_dir)]
    for path in user_files:
        layers.append(_layer_or_raise(_read(path), path))
    return PriceBook(layers)


def validate_file(path: str) -> list[str]:
    """Every problem in one price book file, as 'file:line: message' (empty when it is valid)."""
    try:
        return _parse(_read(path), path)[1]
    except PriceBookError as exc:
        return [str(exc)]


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceBookError(f"{path}: cannot read price book: {exc.strerror}") from exc


def _bundled_layer(text: str, aliases: str, cache_dir: str | None) -> Layer:
    """The generated book with the hand-kept alias history (data/aliases.yaml, cited there) in one layer."""
    if cache_dir is None:
        return _with_aliases(_layer_or_raise(text, BUNDLED), aliases)
    digest = hashlib.sha256(text.encode() + aliases.encode())
    for source in (book.__file__, kinds.__file__, __file__):  # a change to the classes or the parsing makes a new key
        digest.update(Path(source).read_bytes())
    digest.update(__version__.encode())
    path = Path(cache_dir) / f"price-book-{digest.hexdigest()[:32]}.pickle"
    try:
        # Our own file in the receiver's data directory, which only its user writes (as the spool).
        return pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError, TypeError):
        pass
    layer = _with_aliases(_layer_or_raise(text, BUNDLED), aliases)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob("price-book-*.pickle"):
            stale.unlink(missing_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(pickle.dumps(layer, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(temporary, path)
    except OSError as exc:  # a read-only data directory only costs the next start its speed
        logger.warning("cannot cache the parsed price book in %s: %s", cache_dir, exc.strerror)
    return layer


def _with_aliases(layer: Layer, aliases_text: str) -> Layer:
    return dataclasses.replace(layer, aliases=_layer_or_raise(aliases_text, _BUNDLED_ALIASES).aliases)


def _layer_or_raise(text: str, source: str) -> Layer:
    layer, errors = _parse(text, source)
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise PriceBookError("; ".join(errors[:5]) + more)
    return layer


def _parse(text: str, source: str) -> tuple[Layer, list[str]]:
    try:
        loader = _YAML_LOADER(text)
        try:  # one parse: the node tree gives the line numbers, the document is built from it
            root = loader.get_single_node()
            document = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise PriceBookError(f"{source}: not valid YAML: {yaml_problem(exc)}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("prices", []), list):
        raise PriceBookError(f"{source}:1: expected a mapping with a 'prices' list")
    lines = _item_lines(root)
    version = str(document.get("version") or Path(source).stem)
    errors = [f"{source}:1: unknown top-level key {key!r}" for key in document if key not in _TOP_KEYS]

    def each(section: str, build):
        built = []
        for index, raw in enumerate(document.get(section) or []):
            try:
                built.append(build(raw, version))
            except ValueError as exc:
                errors.append(f"{source}:{lines.get((section, index), 1)}: {section}[{index}]: {exc}")
        return built

    scale = _token_scale(document, source, _key_lines(root), errors)
    entries = [_in_our_unit(entry, scale) for entry in each("prices", _entry)]
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if entry.price_id in seen:
            errors.append(f"{source}:{lines.get(('prices', index), 1)}: duplicate id {entry.price_id!r}")
        seen[entry.price_id] = index
    deployments = {key: model for key, model in each("deployments", _deployment)}
    adjustments = each("adjustments", _adjustment)
    aliases: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
    for key, start, model in each("aliases", _alias):
        aliases.setdefault(key, []).append((start, model))
    history = {key: tuple(sorted(periods)) for key, periods in aliases.items()}
    return Layer(source, version, tuple(entries), deployments, tuple(adjustments), history), errors


def _token_scale(document: dict, source: str, key_lines: dict[str, int], errors: list[str]) -> int:
    """What the file's token prices are multiplied by to be USD per million tokens (ours). A currency other
    than USD or a unit we do not know is an error: never priced as if it were ours."""
    currency = document.get("currency", "USD")
    if str(currency).upper() != "USD":
        errors.append(f"{source}:{key_lines.get('currency', 1)}: currency {currency!r} is not supported: costs are "
                      f"stored in USD and no exchange rate is applied; convert the prices to USD")
    unit = document.get("unit", _OUR_UNIT)
    if unit not in _TOKEN_UNITS:
        errors.append(f"{source}:{key_lines.get('unit', 1)}: unit {unit!r} is not one of "
                      f"{', '.join(_TOKEN_UNITS)} (token prices); other kinds' keys name their own unit")
    return _TOKEN_UNITS.get(unit, 1)


def _in_our_unit(entry: PriceEntry, scale: int) -> PriceEntry:
    """The entry with its token rates per million tokens."""
    if scale == 1:
        return entry

    def scaled(rates: Rates) -> Rates:
        return dataclasses.replace(rates, **{kind.rate: getattr(rates, kind.rate) * scale for kind in KINDS
                                             if kind.unit == "token" and getattr(rates, kind.rate) is not None})

    return dataclasses.replace(
        entry, rates=scaled(entry.rates), tiers=tuple((above, scaled(rates)) for above, rates in entry.tiers),
        time_of_day=tuple((start, end, scaled(rates)) for start, end, rates in entry.time_of_day))


def _key_lines(root) -> dict[str, int]:
    """Top-level key -> its 1-based line."""
    if not isinstance(root, yaml.MappingNode):
        return {}
    return {key_node.value: key_node.start_mark.line + 1 for key_node, _ in root.value}


def _item_lines(root) -> dict[tuple[str, int], int]:
    """(section, index) -> 1-based line of that list item in the file."""
    lines = {}
    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            if isinstance(value_node, yaml.SequenceNode):
                for index, item in enumerate(value_node.value):
                    lines[(key_node.value, index)] = item.start_mark.line + 1
    return lines


def _entry(raw: object, version: str) -> PriceEntry:
    _check_keys(raw, _ENTRY_KEYS)
    providers, models, pattern = _match(raw, required=True)
    rates = _rates(raw, None)
    tiers = []
    for tier in raw.get("tiers") or []:
        _check_keys(tier, _TIER_KEYS, "tier")
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
    label = sorted(models)[0] if models else raw.get("pattern")
    default_id = f"{providers[0]}/{label}@{effective_from.date()}" + (f"#{service_tier}" if service_tier else "")
    return PriceEntry(
        price_id=str(raw.get("id") or default_id), providers=providers, models=models, pattern=pattern,
        effective_from=effective_from, service_tier=service_tier, rates=rates, tiers=tuple(tiers),
        book_version=version, time_of_day=time_of_day, uncertain=uncertain,
    )


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
    hours, taken = [], set()
    for item in raw_hours:
        _check_keys(item, _HOURS_KEYS, "time_of_day item")
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


def _deployment(raw: object, _version: str) -> tuple[tuple[str, str], str]:
    _check_keys(raw, _DEPLOYMENT_KEYS, "deployment")
    if not all(isinstance(raw.get(k), str) and raw.get(k) for k in _DEPLOYMENT_KEYS):
        raise ValueError("a deployment needs 'provider', 'name' and 'model'")
    return (raw["provider"].lower(), raw["name"].lower()), raw["model"]


def _alias(raw: object, _version: str) -> tuple[tuple[str, str], datetime, str]:
    """From `effective_from`, alias `name` of `provider` pointed to snapshot `model`."""
    _check_keys(raw, _ALIAS_KEYS, "alias")
    if not all(isinstance(raw.get(k), str) and raw.get(k) for k in ("provider", "name", "model")):
        raise ValueError("an alias needs 'provider', 'name', 'model' and 'effective_from'")
    return (raw["provider"].lower(), raw["name"].lower()), _utc(raw.get("effective_from"), "effective_from"), \
        raw["model"].lower()


def _adjustment(raw: object, _version: str) -> Adjustment:
    _check_keys(raw, _ADJUSTMENT_KEYS, "adjustment")
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


def _check_keys(raw: object, allowed: frozenset[str], what: str = "entry") -> None:
    if not isinstance(raw, dict):
        raise ValueError(f"an {what} must be a mapping")
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")


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
