"""Reading attribute values the way emitters really send them, shared by every dialect (and attribution).

Token counts arrive as ints, as floats ("12.0") or as strings ("12"); anything that is not a
non-negative whole number makes the span unusable (InvalidSpan), because pricing a guess is worse than
reporting it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping


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
        elif isinstance(value, str) and value.strip().isdecimal():  # not isdigit(): int("²") raises
            count = int(value)
        else:
            raise InvalidSpan(f"{key}={value!r} is not a token count")
        if count < 0:
            raise InvalidSpan(f"{key}={count} is negative")
        return count
    return 0


def json_value(value, kind: type):
    """An attribute holding a JSON object or array (`kind`: dict or list), sent as such or as a JSON string;
    an empty one when it is neither."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            return kind()
    return value if isinstance(value, kind) else kind()


def flag(attributes: Mapping, keys: Iterable[str]) -> bool:
    value = first(attributes, keys)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


_STATUS_OK, STATUS_ERROR = 1, 2  # OTLP Status.code
# "RateLimitError: Error code: 429 ..." -> RateLimitError (instrumentations that only set the status)
_EXCEPTION_NAME = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception))\b")


def error_type(span, keys: Iterable[str]) -> str:
    """The call's error type: the emitter's, else the exception named by the status, else "_OTHER".

    A status explicitly set to OK wins over a leftover error.type (LiteLLM stamps a failed try's
    attributes on the span its successful retry then completes)."""
    if span.status_code == _STATUS_OK:
        return ""
    stated = text(span.attributes, keys)
    if stated:
        return stated
    if span.status_code != STATUS_ERROR:
        return ""
    named = _EXCEPTION_NAME.match(span.status_message)
    return named.group(1).rsplit(".", 1)[-1] if named else "_OTHER"
