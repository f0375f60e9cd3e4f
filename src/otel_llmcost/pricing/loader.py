"""Price book files -> PriceBook, checked item by item (pricing/items.py); every problem is reported with file
and line."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
from datetime import datetime
from importlib.resources import files
from pathlib import Path

import yaml

from otel_llmcost import __version__, kinds
from otel_llmcost.errors import PriceBookError, yaml_problem
from otel_llmcost.kinds import KINDS
from otel_llmcost.pricing import book, items
from otel_llmcost.pricing.book import Layer, PriceBook, PriceEntry, Rates

logger = logging.getLogger(__name__)
# libyaml's parser when the wheel has it (ten times faster on the 500 kB bundled book); same constructor.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TOP_KEYS = frozenset({"version", "source", "currency", "unit", "prices", "deployments", "adjustments", "aliases"})
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
    # a change to the classes or the parsing makes a new key
    for source in (book.__file__, kinds.__file__, items.__file__, __file__):
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
    entries = [_in_our_unit(entry, scale) for entry in each("prices", items.entry)]
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if entry.price_id in seen:
            errors.append(f"{source}:{lines.get(('prices', index), 1)}: duplicate id {entry.price_id!r}")
        seen[entry.price_id] = index
    deployments = {key: model for key, model in each("deployments", items.deployment)}
    adjustments = each("adjustments", items.adjustment)
    aliases: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
    for key, start, model in each("aliases", items.alias):
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
