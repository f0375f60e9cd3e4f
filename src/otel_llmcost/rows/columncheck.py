"""Column checks: every value of a row made storable in its ClickHouse column before the INSERT, for every
table the writer fills (llm_usage by rowcheck.py, otel_traces by traces.py, rejected_calls by deadletter.py),
each from the one column list that also names its INSERT's columns.

One value ClickHouse refuses (a count >= 2**64, a time past its type's range, a cost beyond Decimal(38, 12))
fails the whole INSERT, so it is caught here, per value, with limits derived from the column's type:
- a count beyond its UInt range is clamped to the nearest storable value;
- a Nullable value beyond its type (a cost beyond its Decimal range, a NaN) is dropped (NULL);
- text longer than the column's limit is truncated, text that is not valid UTF-8 has the bad characters
  replaced; maps and arrays keep at most MAX_ITEMS entries;
- the row's event time (the call's or span's start) outside KEPT_TIMES becomes the ingestion time.
Each change is named in the findings' notes. A value that cannot be made storable raises RowRejected: that row
goes to the dead-letter table instead, alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from itertools import chain
from operator import attrgetter
from typing import Any

MAX_NAME_CHARS = 1024  # LowCardinality(String): names, models, dimensions
MAX_TEXT_CHARS = 16 * 1024  # String: ids, notes, metadata values
MAX_ITEMS = 256  # entries of a Map or an Array
# The times a row may carry: where every column and expression a time reaches holds it. DateTime64 alone
# would take 1900-01-01 .. 2299-12-31 (DateTime64(9): .. 2262-04-11), but the rollups' `hour` is a DateTime
# and otel_traces' partition a Date, which hold 1970-01-01 .. 2106-02-07 06:28:15: a call outside would land in
# another hour of the rollups than of its raw row (ClickHouse clamps or wraps it there, silently). And a
# retention TTL adds its days to a DateTime, wrapping past 2106 (the row would be dropped at once): ending in
# 2100 leaves room for retentions up to six years.
KEPT_TIMES = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc))
KEPT_TIMES_TEXT = "1970-01-01..2099-12-31"


class RowRejected(ValueError):
    """A value of the row cannot be stored in any form; the message says which and why."""


@dataclass(slots=True)
class Findings:
    notes: list[str] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)  # columns whose value was clamped, dropped or replaced

    def note(self, name: str, text: str) -> None:
        self.notes.append(text)
        self.changed.add(name)


Check = Callable[[str, Any, Findings], Any]


class ColumnChecks:
    """The checks of one table's columns, in its column order. `event_time`: the column that falls back to
    the ingestion time; `text_limits`: columns whose text may be longer than MAX_TEXT_CHARS."""

    def __init__(self, column_types: Sequence[tuple[str, str]], event_time: str = "",
                 text_limits: Mapping[str, int] | None = None):
        self.names = tuple(name for name, _ in column_types)
        self._checks = tuple(_check_for(name, ch_type, name == event_time, (text_limits or {}).get(name))
                             for name, ch_type in column_types)

    def check(self, values: Sequence[Any], findings: Findings) -> list[Any]:
        """The values, each storable in its column (a new list; `values` is left as it was); changes are
        recorded in `findings`. Raises RowRejected."""
        checks = zip(self.names, values, self._checks, strict=True)
        return [check(name, value, findings) for name, value, check in checks]


def _unsigned(bits: int) -> Check:
    largest = 2 ** bits - 1

    def check(name: str, value: Any, findings: Findings) -> Any:
        if type(value) is int and 0 <= value <= largest:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RowRejected(f"{name}={short(value)} is not a whole number")
        clamped = min(max(int(value), 0), largest)
        findings.note(name, f"{name} {short(value)} is out of UInt{bits} range, stored as {clamped}")
        return clamped

    return check


def _decimal(precision: int, scale: int, nullable: bool) -> Check:
    bound = Decimal(10) ** (precision - scale)

    def check(name: str, value: Any, findings: Findings) -> Any:
        if value is None and nullable:
            return value
        if isinstance(value, Decimal) and value.is_finite() and abs(value) < bound:
            return value
        if not nullable:
            raise RowRejected(f"{name}={short(value)} does not fit Decimal({precision}, {scale})")
        findings.note(name, f"{name} {short(value)} does not fit Decimal({precision}, {scale}), dropped")
        return None

    return check


def _text(limit: int) -> Check:
    def check(name: str, value: Any, findings: Findings) -> Any:
        return storable_text(name, value, limit, findings)

    return check


def storable_text(name: str, value: Any, limit: int, findings: Findings) -> str:
    if not isinstance(value, str):
        value = str(value)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from JSON escapes
            value = value.encode("utf-8", "replace").decode("utf-8")
            findings.note(name, f"{name} had characters that are not UTF-8, replaced")
    if len(value) > limit:
        findings.note(name, f"{name} truncated from {len(value)} to {limit} characters")
        value = value[:limit]
    return value


def _array(limit: int) -> Check:
    def check(name: str, value: Any, findings: Findings) -> Any:
        items = list(value) if isinstance(value, (list, tuple)) else []
        if len(items) > MAX_ITEMS:
            findings.note(name, f"{name}: {len(items)} entries, the first {MAX_ITEMS} kept")
            items = items[:MAX_ITEMS]
        fixed = tuple(storable_text(name, item, limit, findings) for item in items)
        return value if isinstance(value, (list, tuple)) and fixed == tuple(value) else fixed

    return check


def _map(key_limit: int, value_limit: int) -> Check:
    def check(name: str, value: Any, findings: Findings) -> Any:
        entries = list(value.items()) if isinstance(value, dict) else []
        if len(entries) > MAX_ITEMS:
            findings.note(name, f"{name}: {len(entries)} entries, the first {MAX_ITEMS} kept")
            entries = entries[:MAX_ITEMS]
        fixed = {storable_text(f"{name} key", k, key_limit, findings):
                 storable_text(f"{name}[{short(k)}]", v, value_limit, findings) for k, v in entries}
        return value if fixed == value else fixed

    return check


def _datetime(precision: int, event_time: bool) -> Check:
    """A DateTime64(precision) value: an aware datetime, or whole ticks since the epoch (otel_traces')."""
    per_second = 10 ** precision
    earliest, latest = (int(moment.timestamp()) * per_second for moment in KEPT_TIMES)

    def check(name: str, value: Any, findings: Findings) -> Any:
        if isinstance(value, datetime):
            if value.tzinfo is not None and KEPT_TIMES[0] <= value < KEPT_TIMES[1]:
                return value
        elif type(value) is int and earliest <= value < latest:
            return value
        if not event_time:
            raise RowRejected(f"{name}={short(value)} is outside the times the store keeps")
        now = datetime.now(timezone.utc)
        findings.note(name, f"{name} {_time_text(value, per_second)} is outside {KEPT_TIMES_TEXT}, "
                            f"the ingestion time stored")
        return now if isinstance(value, datetime) else round(now.timestamp() * per_second)

    return check


def _time_text(value: Any, per_second: int) -> str:
    if type(value) is int:
        return f"{value / per_second:.0f}s since 1970"
    return short(value)


def _float(nullable: bool) -> Check:
    """A Float64: a NaN or an infinity would be stored, and make every sum and average of its rollups one
    too, so it is dropped (NULL) where the column allows, refused where not."""
    def check(name: str, value: Any, findings: Findings) -> Any:
        if (isinstance(value, float) and math.isfinite(value)) or (value is None and nullable):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, float) and nullable:
            findings.note(name, f"{name} {value} is not a finite number, dropped")
            return None
        raise RowRejected(f"{name}={short(value)} is not a finite number")

    return check


def _bool(name: str, value: Any, findings: Findings) -> Any:
    return bool(value)


def short(value: Any) -> str:
    text = repr(value) if not isinstance(value, (int, float)) else f"{value:.6g}" if isinstance(value, float) \
        else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True, slots=True)
class Fits:
    """Tests that a column's check would return values as they are, without a note: `column` for a whole
    column at C speed (what holds in practice), `value` for one value (to find the rows a column that fails
    holds). A False only means "check it": the check decides."""

    column: Callable[[Sequence], bool]
    value: Callable[[Any], bool]


def fits_for(ch_type: str, text_limit: int | None = None) -> Fits:
    """The fast tests of a column of this type (`text_limit` as ColumnChecks' text_limits)."""
    if ch_type.startswith("Nullable("):
        inner = fits_for(ch_type[len("Nullable("):-1], text_limit)
        return Fits(lambda values: inner.column([value for value in values if value is not None]),
                    lambda value: value is None or inner.value(value))
    if ch_type in ("String", "LowCardinality(String)"):
        return _text_fits(text_limit or (MAX_NAME_CHARS if ch_type.startswith("LowCardinality") else MAX_TEXT_CHARS))
    if ch_type == "Map(LowCardinality(String), String)":
        keys, values = _text_fits(MAX_NAME_CHARS), _text_fits(MAX_TEXT_CHARS)

        def map_column(maps: Sequence) -> bool:
            maps = list({id(items): items for items in maps}.values())  # spans of a resource share its map
            return set(map(type, maps)) <= {dict} and (not maps or max(map(len, maps)) <= MAX_ITEMS) and \
                keys.column(list(chain.from_iterable(maps))) and \
                values.column(list(chain.from_iterable(map(dict.values, maps))))

        return Fits(map_column, lambda value: map_column([value]))
    if ch_type == "Array(LowCardinality(String))":
        items = _text_fits(MAX_NAME_CHARS)

        def array_column(arrays: Sequence) -> bool:
            return set(map(type, arrays)) <= {tuple, list} and (not arrays or max(map(len, arrays)) <= MAX_ITEMS) \
                and items.column(list(chain.from_iterable(arrays)))

        return Fits(array_column, lambda value: array_column([value]))
    if match := UINT.match(ch_type):
        return _int_fits(0, 2 ** int(match.group(1)))
    if match := _DATETIME64.match(ch_type):
        per_second = 10 ** int(match.group(1))
        ticks = _int_fits(*(int(moment.timestamp()) * per_second for moment in KEPT_TIMES))
        return Fits(lambda values: ticks.column(values) or _datetimes_fit(values),
                    lambda value: ticks.value(value) or _datetimes_fit([value]))
    if match := _DECIMAL.match(ch_type):
        bound = Decimal(10) ** (int(match.group(1)) - int(match.group(2)))

        def decimal_column(values: Sequence) -> bool:
            return set(map(type, values)) <= {Decimal} and all(map(Decimal.is_finite, values)) and (
                not values or max(map(abs, values)) < bound)

        return Fits(decimal_column, lambda value: decimal_column([value]))
    if ch_type == "Float64":
        return _typed_fits(float, math.isfinite)
    if ch_type == "Bool":
        return _typed_fits(bool, None)
    raise RuntimeError(f"columncheck has no fast test for {ch_type}; add one")


def rows_failing(columns: Iterable[Sequence], fits: Sequence[Fits]) -> set[int]:
    """Indexes of the rows whose check may change or refuse a value: the whole columns are tested first, and
    only the values of a column that fails one by one. Every other row is storable as it is."""
    suspects: set[int] = set()
    for values, column_fits in zip(columns, fits, strict=True):
        if not column_fits.column(values):
            suspects.update(i for i, value in enumerate(values) if not column_fits.value(value))
    return suspects


def _typed_fits(kind: type, valid: Callable[[Any], bool] | None) -> Fits:
    """Values of exactly this type (a check converts other types), each `valid` if given."""
    def column(values: Sequence) -> bool:
        return set(map(type, values)) <= {kind} and (valid is None or all(map(valid, values)))

    return Fits(column, lambda value: column([value]))


def _datetimes_fit(values: Sequence) -> bool:
    try:
        return set(map(type, values)) <= {datetime} and None not in map(_TZINFO, values) and (
            not values or (KEPT_TIMES[0] <= min(values) and max(values) < KEPT_TIMES[1]))
    except TypeError:  # naive and aware datetimes do not compare
        return False


_TZINFO = attrgetter("tzinfo")


def _text_fits(limit: int) -> Fits:
    def column(values: Sequence) -> bool:
        try:
            joined = "".join(values)
        except TypeError:  # not all text
            return False
        return (not values or max(map(len, values)) <= limit) and valid_utf8(joined)

    return Fits(column, lambda value: type(value) is str and column([value]))


def valid_utf8(text: str) -> bool:
    """Whether the text can be written as UTF-8 (no lone surrogates: JSON escapes can make them)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _int_fits(lowest: int, beyond: int) -> Fits:
    """Whole numbers (not bools, not datetimes) in [lowest, beyond)."""
    def column(values: Sequence) -> bool:
        return not values or (set(map(type, values)) == {int} and lowest <= min(values) and max(values) < beyond)

    return Fits(column, lambda value: type(value) is int and lowest <= value < beyond)


UINT = re.compile(r"UInt(\d+)$")
_DECIMAL = re.compile(r"Decimal\((\d+),\s*(\d+)\)$")
_DATETIME64 = re.compile(r"DateTime64\((\d+)(?:,\s*'UTC')?\)$")


def _check_for(name: str, ch_type: str, event_time: bool, text_limit: int | None) -> Check:
    """The check of one column, from its ClickHouse type."""
    nullable = ch_type.startswith("Nullable(")
    inner = ch_type[len("Nullable("):-1] if nullable else ch_type
    if match := UINT.match(inner):
        return _unsigned(int(match.group(1)))
    if match := _DECIMAL.match(inner):
        return _decimal(int(match.group(1)), int(match.group(2)), nullable)
    if inner in ("String", "LowCardinality(String)"):
        return _text(text_limit or (MAX_NAME_CHARS if inner.startswith("LowCardinality") else MAX_TEXT_CHARS))
    if inner == "Array(LowCardinality(String))":
        return _array(MAX_NAME_CHARS)
    if inner == "Map(LowCardinality(String), String)":
        return _map(MAX_NAME_CHARS, MAX_TEXT_CHARS)
    if match := _DATETIME64.match(inner):
        return _datetime(int(match.group(1)), event_time)
    if inner == "Float64":
        return _float(nullable)
    if inner == "Bool":
        return _bool
    raise RuntimeError(f"columncheck has no check for column {name} {ch_type}; add one")
