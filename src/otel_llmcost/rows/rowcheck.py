"""Row check: every value of a UsageRow made storable in its llm_usage column before the INSERT.

One value ClickHouse refuses (a token count >= 2**64, an attempt > 65535, a cost beyond Decimal(38, 12))
fails the whole INSERT, so it is caught here, per value, with limits derived from store/schema.py COLUMNS:
- a count beyond its UInt range is clamped to the largest storable value; a clamped token count cannot be
  priced right, so the row's costs are dropped (cost_status 'invalid_usage');
- a cost beyond its Decimal range is dropped (NULL) - all our costs together, since they must add up;
- text longer than the column's limit is truncated, text that is not valid UTF-8 has the bad characters
  replaced; maps and arrays keep at most _MAX_ITEMS entries;
- a start time outside DateTime64's range becomes the ingestion time.
Each change is named in cost_note. A value that cannot be made storable raises RowRejected: that call goes to
the dead-letter table instead, alone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from otel_llmcost.model import Cost, LlmCall, UsageRow
from otel_llmcost.kinds import COUNTS
from otel_llmcost.store.schema import COLUMN_TYPES

_MAX_NAME_CHARS = 1024  # LowCardinality(String): names, models, dimensions
_MAX_TEXT_CHARS = 16 * 1024  # String: ids, notes, metadata values
_MAX_ITEMS = 256  # entries of a Map or an Array
# ClickHouse DateTime64 holds 1900-01-01 .. 2299-12-31
_EARLIEST, _LATEST = datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(2300, 1, 1, tzinfo=timezone.utc)
_COSTS = tuple(field.name for field in fields(Cost) if field.name.endswith("_usd"))  # ours, not the emitter's


class RowRejected(ValueError):
    """A value of the row cannot be stored in any form; the message says which and why."""


@dataclass(slots=True)
class _Findings:
    notes: list[str]
    invalid_cost: bool = False


Check = Callable[[str, Any, _Findings], Any]


def check_row(row: UsageRow) -> UsageRow:
    """The row (changed in place) with every value storable; changes are appended to cost_note. Raises
    RowRejected, leaving the row as it was."""
    findings, fixes = _Findings([]), {}
    for name, check in _CHECKS:
        value = getattr(row, name)
        fixed = check(name, value, findings)
        if fixed is not value:
            fixes[name] = fixed
    for name, fixed in fixes.items():  # only now: a refused row is dead-lettered as it was built
        setattr(row, name, fixed)
    if findings.invalid_cost and any(getattr(row, name) is not None for name in _COSTS):
        for name in _COSTS:
            setattr(row, name, None)
        row.cost_status = "invalid_usage"
    if findings.notes:  # the checks' notes are kept whole; the note they follow is cut to make room
        added = "; ".join(findings.notes)[:_MAX_TEXT_CHARS]
        room = _MAX_TEXT_CHARS - len(added) - 2
        row.cost_note = f"{row.cost_note[:room]}; {added}" if row.cost_note and room > 0 else added
    return row


def unstorable_counts(call: LlmCall) -> str:
    """Why the call's counts cannot be priced: the counts beyond their column's range ("" when none). Such a
    count is stored clamped, and the price of the clamped count would be a wrong price."""
    return "; ".join(f"{name} {_short(getattr(call, name))} is beyond {_COUNT_TYPES[name]}, not priced"
                     for name in COUNTS if getattr(call, name) > _COUNT_LIMITS[name])


def _unsigned(bits: int) -> Check:
    largest = 2 ** bits - 1

    def check(name: str, value: Any, findings: _Findings) -> Any:
        if type(value) is int and 0 <= value <= largest:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RowRejected(f"{name}={value!r} is not a whole number")
        clamped = min(max(int(value), 0), largest)
        findings.notes.append(f"{name} {_short(value)} is out of UInt{bits} range, stored as {clamped}")
        findings.invalid_cost = findings.invalid_cost or name in COUNTS
        return clamped

    return check


def _decimal(precision: int, scale: int, nullable: bool) -> Check:
    bound = Decimal(10) ** (precision - scale)

    def check(name: str, value: Any, findings: _Findings) -> Any:
        if value is None and nullable:
            return value
        if isinstance(value, Decimal) and value.is_finite() and abs(value) < bound:
            return value
        if not nullable:
            raise RowRejected(f"{name}={_short(value)} does not fit Decimal({precision}, {scale})")
        findings.notes.append(f"{name} {_short(value)} does not fit Decimal({precision}, {scale}), dropped")
        findings.invalid_cost = findings.invalid_cost or name in _COSTS
        return None

    return check


def _text(limit: int) -> Check:
    def check(name: str, value: Any, findings: _Findings) -> Any:
        return _storable_text(name, value, limit, findings)

    return check


def _storable_text(name: str, value: Any, limit: int, findings: _Findings) -> str:
    if not isinstance(value, str):
        value = str(value)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from JSON escapes
            value = value.encode("utf-8", "replace").decode("utf-8")
            findings.notes.append(f"{name} had characters that are not UTF-8, replaced")
    if len(value) > limit:
        findings.notes.append(f"{name} truncated from {len(value)} to {limit} characters")
        value = value[:limit]
    return value


def _array(limit: int) -> Check:
    def check(name: str, value: Any, findings: _Findings) -> Any:
        items = list(value) if isinstance(value, (list, tuple)) else []
        if len(items) > _MAX_ITEMS:
            findings.notes.append(f"{name}: {len(items)} entries, the first {_MAX_ITEMS} kept")
            items = items[:_MAX_ITEMS]
        fixed = tuple(_storable_text(name, item, limit, findings) for item in items)
        return value if isinstance(value, (list, tuple)) and fixed == tuple(value) else fixed

    return check


def _map(key_limit: int, value_limit: int) -> Check:
    def check(name: str, value: Any, findings: _Findings) -> Any:
        entries = list(value.items()) if isinstance(value, dict) else []
        if len(entries) > _MAX_ITEMS:
            findings.notes.append(f"{name}: {len(entries)} entries, the first {_MAX_ITEMS} kept")
            entries = entries[:_MAX_ITEMS]
        fixed = {_storable_text(f"{name} key", k, key_limit, findings):
                 _storable_text(f"{name}[{_short(k)}]", v, value_limit, findings) for k, v in entries}
        return value if fixed == value else fixed

    return check


def _datetime(name: str, value: Any, findings: _Findings) -> Any:
    if isinstance(value, datetime) and _EARLIEST <= value < _LATEST:
        return value
    raise RowRejected(f"{name}={value!r} is outside DateTime64's range")


def _start_time(name: str, value: Any, findings: _Findings) -> Any:
    if isinstance(value, datetime) and _EARLIEST <= value < _LATEST:
        return value
    findings.notes.append(f"{name} {_short(value)} is outside DateTime64's range, the ingestion time stored")
    return datetime.now(timezone.utc)


def _float(nullable: bool) -> Check:
    def check(name: str, value: Any, findings: _Findings) -> Any:
        if isinstance(value, float) or (value is None and nullable):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        raise RowRejected(f"{name}={_short(value)} is not a number")

    return check


def _bool(name: str, value: Any, findings: _Findings) -> Any:
    return bool(value)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, (int, float)) else f"{value:.6g}" if isinstance(value, float) \
        else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


_UINT = re.compile(r"UInt(\d+)$")
_DECIMAL = re.compile(r"Decimal\((\d+),\s*(\d+)\)$")


def _check_for(name: str, ch_type: str) -> Check:
    """The check of one column, from its ClickHouse type."""
    nullable = ch_type.startswith("Nullable(")
    inner = ch_type[len("Nullable("):-1] if nullable else ch_type
    if match := _UINT.match(inner):
        return _unsigned(int(match.group(1)))
    if match := _DECIMAL.match(inner):
        return _decimal(int(match.group(1)), int(match.group(2)), nullable)
    if inner in ("String", "LowCardinality(String)"):
        return _text(_MAX_NAME_CHARS if inner.startswith("LowCardinality") else _MAX_TEXT_CHARS)
    if inner == "Array(LowCardinality(String))":
        return _array(_MAX_NAME_CHARS)
    if inner == "Map(LowCardinality(String), String)":
        return _map(_MAX_NAME_CHARS, _MAX_TEXT_CHARS)
    if inner.startswith("DateTime64("):
        return _start_time if name == "ts" else _datetime
    if inner == "Float64":
        return _float(nullable)
    if inner == "Bool":
        return _bool
    raise RuntimeError(f"rowcheck has no check for column {name} {ch_type}; add one")


_COUNT_TYPES = {name: ch_type for name, ch_type in COLUMN_TYPES if name in COUNTS}
_COUNT_LIMITS = {name: 2 ** int(_UINT.match(ch_type).group(1)) - 1 for name, ch_type in _COUNT_TYPES.items()}
_CHECKS: tuple[tuple[str, Check], ...] = tuple((name, _check_for(name, ch_type)) for name, ch_type in COLUMN_TYPES)
