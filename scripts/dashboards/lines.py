"""The statement's lines of a range: (tenant_id, day, list_cost, effective) per tenant, day, project, feature,
provider and billed model, each the exact sums of its calls in the range, from migration 015's rollups.

A line's billed cost is rounded on its own, so the lines must be whole before anything is rounded:
- the range's whole days: statement_daily read FINAL (its rows are the lines already: no GROUP BY);
- the day at each end that is not whole, one of two ways, whichever reads fewer hours: its whole hours in the
  range from statement_hourly plus the raw rows of its partial hour, or (12 or more of its hours in the range)
  its statement_daily row less its hours and raw rows out of the range; those rows are summed per line.
Raw rows are read in the partial hours only (llm_usage's projection by_ts has the billed model's columns), and
alone once a variable the lines have no column for is picked (environment, service, model as asked, user,
`lacks`). Every guard is a constant once the variables and the range are expanded, so a branch that does not
apply reads nothing.
"""

from __future__ import annotations

from otel_llmcost.store.rollups import BILLED_MODEL, LIST_COST
from scripts.dashboards.sql import DB, RANGE, all_of, cond, filters, raw_calls, whole_day, whole_hours

_SINCE, _UNTIL = RANGE
_FIRST, _LAST = whole_hours(RANGE)
#: the days at the range's ends (the same day for a range within one)
_START_DAY, _END_DAY = f"toStartOfDay({_SINCE})", f"toStartOfDay({_UNTIL})"
_LINE = "project, feature, provider, model"  # a line, with its tenant and day


def _whole(day_start: str) -> str:
    return whole_day(day_start, (_FIRST, _LAST))


def _less(day_start: str) -> str:
    """The end day at `day_start` is read as its daily lines less what is out of the range: 12 or more of its hours
    are whole in the range (a constant)."""
    return (f"(NOT ({_whole(day_start)}) AND dateDiff('hour', greatest({day_start}, {_FIRST}), "
            f"least({day_start} + INTERVAL 23 HOUR, {_LAST})) >= 11)")


def _ends(each: str, start: str, end: str) -> str:
    """`each` for the start day and, when it is another day, the end day (`start`/`end`: their own conditions)."""
    return (f"(({each.format(day=_START_DAY)}) AND {start}) OR (({each.format(day=_END_DAY)}) AND {end} "
            f"AND {_END_DAY} != {_START_DAY})")


def statement_lines(has: tuple[tuple[str, str], ...] = (), lacks: tuple[str, ...] = (), *raw: str) -> str:
    """`lines` of the range filtered by every variable: `has`, more (variable, column) the lines hold; `lacks`,
    more variables they do not; `raw`, those conditions on raw rows (alias u)."""
    fits = all_of("environment", "service", "model", "user", *lacks)
    keep = " AND ".join([filters("tenant", "feature", "provider"), *(cond(c, v) for v, c in has), fits])
    money = "list_cost_usd AS list_cost, cost_usd AS effective"
    negated = "-list_cost_usd, -cost_usd"
    call = (f"u.tenant_id, toDate(u.ts), u.project, u.feature, u.provider, {BILLED_MODEL}, {{sign}}{LIST_COST}, "
            f"{{sign}}ifNull(u.cost_usd, toDecimal128(0, 12))")
    in_hours = _ends("hour >= greatest({day}, " + _FIRST + ") AND hour <= least({day} + INTERVAL 23 HOUR, "
                     + _LAST + ")", f"NOT ({_whole(_START_DAY)}) AND NOT {_less(_START_DAY)}",
                     f"NOT ({_whole(_END_DAY)}) AND NOT {_less(_END_DAY)}")
    out_hours = (f"(hour >= {_START_DAY} AND hour + INTERVAL 1 HOUR <= {_SINCE} AND {_less(_START_DAY)}) OR "
                 f"(hour > {_UNTIL} AND hour < {_END_DAY} + INTERVAL 1 DAY AND {_less(_END_DAY)})")
    partial_in = (f"(u.ts < {_FIRST} AND NOT {_less(_START_DAY)}) OR "
                  f"(u.ts >= {_LAST} + INTERVAL 1 HOUR AND NOT {_less(_END_DAY)})")
    partial_out = (f"(u.ts >= toStartOfHour({_SINCE}) AND u.ts < {_SINCE} AND {_less(_START_DAY)}) OR "
                   f"(u.ts > {_UNTIL} AND u.ts < toStartOfHour({_UNTIL}) + INTERVAL 1 HOUR AND {_less(_END_DAY)})")
    raw_filters = " AND ".join([filters(*(n for n in ("tenant", "environment", "service", "feature", "provider",
                                                      "model", "user")), prefix="u."), *raw])
    return f"""lines AS (
    SELECT tenant_id, day, {money}
    FROM {DB}.statement_daily FINAL
    WHERE day >= toDate({_FIRST}) AND day <= toDate({_LAST}) AND {_whole("toDateTime(day, 'UTC')")} AND {keep}
    UNION ALL
    SELECT tenant_id, day, sum(list_cost) AS list_cost, sum(effective) AS effective
    FROM (
      SELECT tenant_id, toDate(hour) AS day, project, feature, provider, model, {money}
      FROM {DB}.statement_hourly
      WHERE ({in_hours}) AND {keep}
      UNION ALL
      SELECT tenant_id, day, {_LINE}, {money}
      FROM {DB}.statement_daily
      WHERE ({_ends("day = toDate({day})", _less(_START_DAY), _less(_END_DAY))}) AND {keep}
      UNION ALL
      SELECT tenant_id, toDate(hour), {_LINE}, {negated}
      FROM {DB}.statement_hourly
      WHERE ({out_hours}) AND {keep}
      UNION ALL
      SELECT {call.format(sign='')}
      FROM {DB}.llm_usage AS u
      WHERE {raw_calls(*raw, prefix='u.')}
      AND (NOT ({fits}) OR {partial_in})
      UNION ALL
      SELECT {call.format(sign='-')}
      FROM {DB}.llm_usage AS u
      WHERE ({partial_out}) AND {raw_filters} AND {fits})
    GROUP BY tenant_id, day, {_LINE})"""
