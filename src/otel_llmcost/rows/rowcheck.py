"""Row check of llm_usage: every value of a UsageRow made storable in its column (columncheck.py, with the
column list of store/schema.py), and what that means for the money:
- a clamped token count cannot be priced right, so the row's costs are dropped (cost_status 'invalid_usage');
- a cost beyond its Decimal range is dropped (NULL) - all our costs together, since they must add up;
- before pricing, a count beyond MAX_BILLABLE_COUNT is flagged and not priced (unpriceable_counts): no model
  takes that much in one call, so it is a broken emitter, and billing it would put an absurd sum (2**63 input
  tokens: $1.38 trillion) into every rollup and report.
Each change is named in cost_note. A value that cannot be made storable raises RowRejected: that call goes to
the dead-letter table instead, alone. So does a call of tenant `*all*`: that id names the every-tenant rollups'
totals and the admin sessions' carrier (store/policies.py), and no tenant key can be made for it, so its rows
would belong to a tenant nobody could be given, listed under the totals' name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from operator import attrgetter

from otel_llmcost.kinds import COUNTS
from otel_llmcost.model import Cost, LlmCall, UsageRow
from otel_llmcost.rows.columncheck import (
    MAX_TEXT_CHARS,
    UINT,
    ColumnChecks,
    Findings,
    RowRejected,
    fits_for,
    rows_failing,
)
from otel_llmcost.store.policies import ALL_TENANTS
from otel_llmcost.store.schema import COLUMN_TYPES

#: The largest count of one kind (tokens, searches) one call is billed for: 100 times the largest context
#: window any model offers (10M tokens). Beyond it the call is stored with its counts but not priced.
MAX_BILLABLE_COUNT = 1_000_000_000
_COSTS = tuple(field.name for field in fields(Cost) if field.name.endswith("_usd"))  # ours, not the emitter's
_CHECKS = ColumnChecks(COLUMN_TYPES, event_time="ts")
_UNPRICEABLE_IF_CHANGED = frozenset(COUNTS) | frozenset(_COSTS)
_VALUES = attrgetter(*_CHECKS.names)  # a row's values in column order, in one call
_FITS = tuple(fits_for(ch_type) for _, ch_type in COLUMN_TYPES)


def check_row(row: UsageRow) -> UsageRow:
    """The row (changed in place) with every value storable; changes are appended to cost_note. Raises
    RowRejected, leaving the row as it was (a refused row is dead-lettered as it was built)."""
    if row.tenant_id == ALL_TENANTS:
        raise RowRejected(f"tenant_id {ALL_TENANTS!r} is reserved for every tenant's totals: no call may carry it")
    findings = Findings()
    values = [getattr(row, name) for name in _CHECKS.names]
    for name, value, fixed in zip(_CHECKS.names, values, _CHECKS.check(values, findings), strict=True):
        if fixed is not value:
            setattr(row, name, fixed)
    if findings.changed & _UNPRICEABLE_IF_CHANGED and any(getattr(row, name) is not None for name in _COSTS):
        for name in _COSTS:
            setattr(row, name, None)
        row.cost_status = "invalid_usage"
    if findings.notes:  # the checks' notes are kept whole; the note they follow is cut to make room
        added = "; ".join(findings.notes)[:MAX_TEXT_CHARS]
        room = MAX_TEXT_CHARS - len(added) - 2
        row.cost_note = f"{row.cost_note[:room]}; {added}" if row.cost_note and room > 0 else added
    return row


def rows_to_check(rows: Sequence[UsageRow]) -> set[int]:
    """Indexes of the rows check_row may change or refuse; every other row is storable as it is. The batch
    is tested a column at a time (columncheck.rows_failing), not a value at a time; and the reserved tenant."""
    if not rows:
        return set()
    reserved = {index for index, row in enumerate(rows) if row.tenant_id == ALL_TENANTS}
    return rows_failing(zip(*map(_VALUES, rows), strict=True), _FITS) | reserved


def unpriceable_counts(call: LlmCall) -> str:
    """Why the call's counts cannot be priced: those beyond MAX_BILLABLE_COUNT ("" when none)."""
    return "; ".join(f"{name} {getattr(call, name)} is beyond the {MAX_BILLABLE_COUNT:,} one call can hold, "
                     f"not priced" for name in COUNTS if getattr(call, name) > MAX_BILLABLE_COUNT)


_COUNT_BITS = [UINT.match(ch_type) for name, ch_type in COLUMN_TYPES if name in COUNTS]
if any(bits is None or 2 ** int(bits.group(1)) - 1 < MAX_BILLABLE_COUNT for bits in _COUNT_BITS):
    raise RuntimeError("a count column holds less than MAX_BILLABLE_COUNT: a billable count would be clamped")

__all__ = ["MAX_BILLABLE_COUNT", "RowRejected", "check_row", "rows_to_check", "unpriceable_counts"]
