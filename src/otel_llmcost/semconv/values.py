"""Reading attribute values the way emitters really send them, shared by every dialect.

Token counts arrive as ints, as floats ("12.0") or as strings ("12"); anything that is not a
non-negative whole number makes the span unusable (InvalidSpan), because pricing a guess is worse than
reporting it.
"""

from __future__ import annotations

from typing import Iterable, Mapping


class InvalidSpan(ValueError):
    """The span is an LLM call but its data cannot be used; the message says why."""


def first(attributes: Mapping, keys: Iterable[str]):
    """The value of the first key present with a non-empty value, else None."""
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


def text(attributes: Mapping, keys: Iterable[str]) -> str:
    value = first(attributes, keys)
    return "" if value is None else str(value)


def token_count(attributes: Mapping, keys: Iterable[str]) -> int:
    """A token count: absent means 0; present but not a non-negative integer raises InvalidSpan."""
    for key in keys:
        value = attributes.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            raise InvalidSpan(f"{key} is a boolean, not a token count")
        if isinstance(value, int):
            count = value
        elif isinstance(value, float) and value.is_integer():
            count = int(value)
        elif isinstance(value, str) and value.strip().isdigit():
            count = int(value)
        else:
            raise InvalidSpan(f"{key}={value!r} is not a token count")
        if count < 0:
            raise InvalidSpan(f"{key}={count} is negative")
        return count
    return 0


def flag(attributes: Mapping, keys: Iterable[str]) -> bool:
    value = first(attributes, keys)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def seconds_as_ms(attributes: Mapping, keys: Iterable[str]) -> float | None:
    value = first(attributes, keys)
    try:
        return None if value is None else float(value) * 1000.0
    except (TypeError, ValueError):
        return None


def normalize_tokens(
    input_tokens: int, cache_read: int, cache_write: int, output_tokens: int, reasoning: int
) -> tuple[int, int, int, int, int]:
    """Bring counts to our convention: input includes cache reads and writes, output includes reasoning.

    Emitters that follow the convention never report more cached than input tokens, so when they do,
    the emitter counted input without the cache (raw Anthropic style) and we add the cache back.
    """
    if cache_read + cache_write > input_tokens:
        input_tokens += cache_read + cache_write
    if reasoning > output_tokens:
        output_tokens += reasoning
    return input_tokens, cache_read, cache_write, output_tokens, reasoning


_STATUS_ERROR = 2


def error_type(span, keys: Iterable[str]) -> str:
    """The call's error type: the emitter's, else semconv's "_OTHER" for a span with status ERROR."""
    stated = text(span.attributes, keys)
    if stated:
        return stated
    return "_OTHER" if span.status_code == _STATUS_ERROR else ""
