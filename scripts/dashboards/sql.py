"""SQL building blocks of the dashboards: filters by the dashboard variables and the sources they read.

Panels read the smallest rollup that answers them for the variables chosen (a lattice, as Apache Pinot's
star-tree index): over all tenants, in a session that reads every tenant, the every-tenant rollups
(usage_all_*: ~200 times fewer rows than usage_hourly with 200 even tenants); by tenant and feature,
features_*; else the per-tenant rollups. The rollups have no user dimension (a user per row would defeat
them), so when the `user` variable picks users the same columns come from the raw rows instead. Each source
is a branch of a UNION ALL whose guards are exact complements (constants once the variables are expanded), so
only one ever reads anything. Raw rows are read for the partial hours at a range's ends: llm_usage's
projection sorted by time (migration 014) reads only those minutes, whatever the tenant.
"""

from __future__ import annotations

import re

from otel_llmcost.kinds import COUNTS
from otel_llmcost.store.rollups import COST_COLUMNS as COSTS
from otel_llmcost.store.rollups import (
    FEATURES_DAILY,
    FEATURES_HOURLY,
    REQUEST_COUNTS_HOURLY,
    REQUESTS_ALL_DAILY,
    REQUESTS_ALL_HOURLY,
    USAGE_ALL_DAILY,
    USAGE_ALL_HOURLY,
    USAGE_DAILY,
    USAGE_HOURLY,
    USERS_DAILY,
    USERS_HOURLY,
    Rollup,
)

DB = "llmcost"
#: (variable, column, label): every dashboard has these variables, in this order.
VARIABLES = (
    ("tenant", "tenant_id", "Tenant"),
    ("environment", "environment", "Environment"),
    ("service", "service_name", "Service"),
    ("feature", "feature", "Feature"),
    ("provider", "provider", "Provider"),
    ("model", "request_model", "Model"),
    ("user", "user_id", "User"),
)
ROLLUP_DIMENSIONS = tuple(name for name, _, _ in USAGE_HOURLY.keys if name != "hour")


def all_of(*variables: str) -> str:
    """1=1 while each of these variables is All, 0 once one is picked: picks a table that has no column
    for them, or (with NOT) its complement."""
    return " AND ".join(f"$__conditionalAll(0, ${name})" for name in variables)


USER_ALL = all_of("user")
#: 1 in a session that reads every tenant (an admin's): the every-tenant rollups keep their rows under the tenant
#: id '*all*', which a tenant's row policy never keeps (and no tenant can have), so a tenant's session finds
#: none. Probed on one row of usage_all_daily (a constant before the rest of the query runs).
EVERY_TENANT_SESSION = f"(SELECT count() FROM (SELECT 1 FROM {DB}.{USAGE_ALL_DAILY.table} LIMIT 1)) = 1"
#: The every-tenant rollups answer: tenant All, in a session that reads every tenant.
EVERY_TENANT = f"{all_of('tenant')} AND {EVERY_TENANT_SESSION}"
#: Request counts: HyperLogLog sketches (≈, exact for small sets) and exact sets, merged.
SKETCH_COUNT, EXACT_COUNT = "uniqCombinedMerge(12)(requests)", "uniqExactMerge(requests)"


def cond(column: str, variable: str) -> str:
    return f"$__conditionalAll({column} IN (${{{variable}:singlequote}}), ${variable})"


def filters(*variables: str, prefix: str = "") -> str:
    """The conditions of these variables (default: all but user), joined with AND."""
    chosen = variables or tuple(name for name, _, _ in VARIABLES if name != "user")
    return "\n  AND ".join(cond(prefix + column, name) for name, column, _ in VARIABLES if name in chosen)


_ROLLUP_MEASURES = ("calls", "failed_calls", "retry_calls", "unpriced_calls", "estimated_calls", *COUNTS,
                    *COSTS, "latency_ms_sum", "ttft_ms_sum", "ttft_calls", "retry_cost_usd")
_RAW_MEASURES = {
    "calls": "toUInt64(1)", "failed_calls": "toUInt64(u.status = 'error')", "retry_calls": "toUInt64(u.attempt > 1)",
    "unpriced_calls": "toUInt64(isNull(u.cost_usd))", "estimated_calls": "toUInt64(u.cost_status = 'estimated')",
    **{kind: f"toUInt64(u.{kind})" for kind in COUNTS},
    **{cost: f"ifNull(u.{cost}, toDecimal128(0, 12))" for cost in COSTS},
    "latency_ms_sum": "u.latency_ms", "ttft_ms_sum": "ifNull(u.ttft_ms, 0)",
    "ttft_calls": "toUInt64(isNotNull(u.ttft_ms))",
    "retry_cost_usd": "if(u.attempt > 1, ifNull(u.cost_usd, toDecimal128(0, 12)), toDecimal128(0, 12))",
}

#: (from, to) of a window: the hour rows whose hour starts in it are read (the rollups' grain).
RANGE = ("$__fromTime", "$__toTime")
#: The month of the range's end, up to the end: month-to-date whatever the range's start.
MONTH = ("toStartOfMonth($__toTime)", "$__toTime")


def whole_hours(window: tuple[str, str] = RANGE) -> tuple[str, str]:
    """The first and the last whole hour of a window, as a window of hours (both inclusive): the rollups
    answer for these, raw rows for the partial hours before and after (`partial_hours`), as `stats` reads."""
    since, until = window
    return (f"toStartOfHour(toDateTime({since}, 'UTC') + INTERVAL 3599 SECOND)",
            f"toStartOfHour(toDateTime({until}, 'UTC')) - INTERVAL 1 HOUR")


def partial_hours(prefix: str = "", window: tuple[str, str] = RANGE) -> str:
    """Raw rows of the window outside its whole hours (all of it when it holds none)."""
    first, last = whole_hours(window)
    return f"({prefix}ts < {first} OR {prefix}ts >= {last} + INTERVAL 1 HOUR)"


def whole_day(day_start: str, window: tuple[str, str]) -> str:
    """The day starting at `day_start` has all its 24 hours in the window of whole hours (`whole_hours`: the
    first and the last whole hour's start, both inclusive)."""
    since, until = window
    return f"{day_start} >= {since} AND {day_start} + INTERVAL 23 HOUR <= {until}"


def _variables_of(rollup: Rollup) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The variables but user that the rollup has a column for, and those it has none for."""
    keys = {name for name, _, _ in rollup.keys}
    names = [(name, column in keys) for name, column, _ in VARIABLES if name != "user"]
    return tuple(name for name, has in names if has), tuple(name for name, has in names if not has)


def fits(rollup: Rollup) -> str:
    """1=1 while every variable (but user) the rollup has no column for is All, 0 once one is picked."""
    return all_of(*_variables_of(rollup)[1]) or "1=1"


def rollup_rows(columns: str, window: tuple[str, str] = RANGE, by_day: bool = False,
                hourly: Rollup = USAGE_HOURLY, daily: Rollup = USAGE_DAILY, only: str = "") -> str:
    """SELECT `t` (the hour, or the day's start) and `columns` from the `hourly` rollup for the window's
    hours, filtered by every variable it has a column for, while users are All and the variables it has
    none for are too (`only`: one more condition). `by_day`: the whole days from the `daily` one and only
    the other hours from `hourly`: exactly the same rows' sums, from ~24 times fewer rows over long ranges
    (for panels that draw no hours)."""
    since, until = window
    has, lacks = _variables_of(hourly)
    conditions = [filters(*has), *([all_of(*lacks)] if lacks else []), *([only] if only else []), USER_ALL]
    keep = "".join(f"\n  AND {condition}" for condition in conditions)
    rows = f"SELECT hour AS t, {columns}\n  FROM {DB}.{hourly.table}\n  WHERE hour >= {since} AND hour <= {until}"
    if not by_day:
        return rows + keep
    day = "toDateTime(day, 'UTC')"
    return (f"SELECT {day} AS t, {columns}\n  FROM {DB}.{daily.table}\n  WHERE {whole_day(day, window)}\n"
            f"  AND day >= toDate({since}, 'UTC') AND day <= toDate({until}, 'UTC'){keep}\n  UNION ALL\n"
            f"  {rows} AND NOT ({whole_day('toStartOfDay(hour)', window)}){keep}")


def uses(sql: str) -> tuple[str, ...]:
    """The columns of `facts` that `sql` names: pass them to facts(keep=...) for a shorter query (a large one
    costs tens of milliseconds to plan)."""
    return tuple(name for name in ROLLUP_DIMENSIONS + _ROLLUP_MEASURES if re.search(rf"\b{name}\b", sql))


def facts(window: tuple[str, str] = RANGE, by_day: bool = False, name: str = "facts", by_tenant: bool = False,
          keep: tuple[str, ...] = ()) -> str:
    """`facts`: rows (t, the rollup's dimensions, its measures) of the window, filtered by every variable;
    from the rollups for its whole hours (`by_day`: see rollup_rows) and raw rows for the partial hours at
    its ends, so a range off the hour sums exactly its calls; from raw rows alone once users are picked.
    The rollups: usage_all_* over all tenants (EVERY_TENANT), else usage_*. `by_tenant`: only tenant_id and
    feature of the dimensions, from features_* while the variables it has no column for are All. `keep`: only
    these columns (all when empty)."""
    dims = tuple(d for d in (("tenant_id", "feature") if by_tenant else ROLLUP_DIMENSIONS) if not keep or d in keep)
    measures = tuple(m for m in _ROLLUP_MEASURES if not keep or m in keep)
    columns = ", ".join(dims + measures)
    raw_dims = "".join(f"u.{d} AS {d}, " for d in dims)
    raw = ", ".join(f"{_RAW_MEASURES[m]} AS {m}" for m in measures)
    hours = whole_hours(window)
    if by_tenant:
        smaller, chosen = rollup_rows(columns, hours, by_day, FEATURES_HOURLY, FEATURES_DAILY), fits(FEATURES_HOURLY)
    else:
        smaller = rollup_rows(columns, hours, by_day, USAGE_ALL_HOURLY, USAGE_ALL_DAILY, only=EVERY_TENANT)
        chosen = EVERY_TENANT
    return (
        f"{name} AS (\n"
        f"  {smaller}\n"
        f"  UNION ALL\n"
        f"  {rollup_rows(columns, hours, by_day, only=f'NOT ({chosen})')}\n"
        f"  UNION ALL\n"
        f"  SELECT toStartOfHour(u.ts) AS t, {raw_dims}{raw}\n"
        f"  FROM {DB}.llm_usage AS u\n"
        f"  WHERE {raw_calls(prefix='u.', window=window)}\n"
        f"  AND (NOT ({USER_ALL}) OR {partial_hours('u.', window)})\n"
        f")"
    )


def request_counts(window: tuple[str, str] = RANGE, name: str = "rcounts", by: str = "total", only: str = "") -> str:
    """Two CTEs of (t, tenant_id, the rollup's dimensions but status, `requests`) rows of the window, filtered by
    every variable, of which only one ever has rows: `name` holds request sketches (uniqCombined(12) states,
    ≈ 1.6 %, exact for small sets), `name`_exact the exact sets of request_counts_hourly. The sketches come
    from requests_all_* (one a day) or usage_all_* (by every dimension but tenant) over all tenants
    (EVERY_TENANT), else from features_* (by tenant and feature: while the
    variables it has no column for are All); `by` "tenant" counts per tenant and feature (never from
    usage_all_*), "segment" per feature, provider and model (never from features_*), "total" only in all (the
    other dimensions of its raw rows are ''). `only`: a condition on every source's rows, over the columns `by`
    groups by (unqualified; the others are '' in raw rows). Whole hours from the rollups (whole
    days where they have them), the partial hours at the range's ends from raw rows, and everything once users
    are picked. Count with count_requests() or requests_by(): each request with a call in range once, whatever
    hours, models or groups it spans."""
    dims = [d for d in ROLLUP_DIMENSIONS if d != "status"]
    hours = whole_hours(window)

    def of(rollup: Rollup) -> str:  # its columns in dims' order, '' for the dimensions it has not
        keys = {name for name, _, _ in rollup.keys}
        return ", ".join([d if d in keys else f"'' AS {d}" for d in dims] + ["requests"])

    also = f" AND ({only})" if only else ""
    every = rollup_rows(of(USAGE_ALL_HOURLY), hours, True, USAGE_ALL_HOURLY, USAGE_ALL_DAILY, only=EVERY_TENANT
                        + ("" if by == "segment" else f" AND NOT ({fits(REQUESTS_ALL_HOURLY)})") + also)
    by_feature = rollup_rows(of(FEATURES_HOURLY), hours, True, FEATURES_HOURLY, FEATURES_DAILY,
                             only=also.removeprefix(" AND ") if by == "tenant" else f"NOT ({EVERY_TENANT}){also}")
    if by == "segment":
        sources, sketched = [every], EVERY_TENANT
    elif by == "tenant":
        sources, sketched = [by_feature], fits(FEATURES_HOURLY)
    else:  # with nothing else picked, over all tenants: one sketch a day
        sources = [rollup_rows(of(REQUESTS_ALL_HOURLY), hours, True, REQUESTS_ALL_HOURLY, REQUESTS_ALL_DAILY,
                               only=EVERY_TENANT + also), every, by_feature]
        sketched = f"({EVERY_TENANT}) OR ({fits(FEATURES_HOURLY)})"
    # raw rows: a state per hour and the dimensions the counts are grouped by (a state costs far more than a row)
    grouped = {"tenant": ("tenant_id", "feature"), "segment": ("feature", "provider", "request_model")}.get(by, ())
    raw_dims = ", ".join(f"u.{d} AS {d}" if d in grouped else f"'' AS {d}" for d in dims)
    raw = (f"  SELECT toStartOfHour(u.ts) AS t, {raw_dims},\n"
           "    STATE(toString(u.tenant_id), u.request_id) AS requests\n"
           f"  FROM {DB}.llm_usage AS u\n"
           f"  WHERE {raw_calls(prefix='u.', window=window)}\n"
           f"  AND (NOT ({USER_ALL}) OR {partial_hours('u.', window)})\n"
           f"  AND GUARD{also}\n"
           f"  GROUP BY {', '.join(['t', *grouped])}")
    exact = rollup_rows(", ".join(dims + ["requests"]), hours, hourly=REQUEST_COUNTS_HOURLY,
                        only=f"NOT ({sketched}){also}")
    return (
        f"{name} AS (\n  " + "\n  UNION ALL\n  ".join(sources) + "\n  UNION ALL\n"
        + raw.replace("STATE", "uniqCombinedState(12)").replace("GUARD", f"({sketched})") + "\n),\n"
        f"{name}_exact AS (\n  {exact}\n  UNION ALL\n"
        + raw.replace("STATE", "uniqExactState").replace("GUARD", f"NOT ({sketched})") + "\n)"
    )


def count_requests(name: str = "rcounts", where: str = "") -> str:
    """The number of requests in `name` (request_counts()'s two CTEs) rows matching `where`: a scalar."""
    condition = f" WHERE {where}" if where else ""
    return (f"((SELECT {SKETCH_COUNT} FROM {name}{condition}) + "
            f"(SELECT {EXACT_COUNT} FROM {name}_exact{condition}))")


def requests_by(group: str, name: str = "rcounts", where: str = "") -> str:
    """SELECT `group`, requests: the number of requests per group of `name` (request_counts()'s two CTEs)."""
    condition = f" WHERE {where}" if where else ""
    return (f"SELECT {group}, {SKETCH_COUNT} AS requests FROM {name}{condition} GROUP BY {group}\n"
            f"  UNION ALL SELECT {group}, {EXACT_COUNT} FROM {name}_exact{condition} GROUP BY {group}")


#: The requests table's hours of the range (its rows are per request and hour).
REQUEST_HOURS = "q.hour >= toStartOfHour($__fromTime) AND q.hour <= $__toTime"


#: The variables the requests table `q` has a column for, as conditions on it.
REQUEST_FILTERS = filters("tenant", "environment", "service", "feature", "user", prefix="q.")
#: The provider filter on requests rows (which keep no provider): the requests that called one, from raw rows.
PROVIDER_OF_REQUEST = (
    f"$__conditionalAll((q.tenant_id, q.request_id) IN (SELECT tenant_id, request_id FROM {DB}.llm_usage "
    f"WHERE $__timeFilter(ts) AND provider IN (${{provider:singlequote}})), $provider)")


def users() -> str:
    """`users`: (tenant_id, user_id, cost_usd, calls) rows of the range, filtered by every variable: usage per
    user from users_daily for whole days, users_hourly for the other whole hours and raw rows for the partial
    hours at the range's ends; or, once a variable those have no column for is picked, from the requests rows
    of the range's hours (models and providers as `reqs` filters them)."""
    day, first, last = "toDateTime(day, 'UTC')", *whole_hours()
    user = filters(*_variables_of(USERS_DAILY)[0], "user")
    return (
        f"users AS (\n"
        f"  SELECT tenant_id, user_id, cost_usd, calls FROM {DB}.users_daily\n"
        f"  WHERE {whole_day(day, (first, last))}\n"
        f"  AND day >= toDate($__fromTime, 'UTC') AND day <= toDate($__toTime, 'UTC')\n"
        f"  AND {user} AND {fits(USERS_DAILY)}\n"
        f"  UNION ALL\n"
        f"  SELECT tenant_id, user_id, cost_usd, calls FROM {DB}.{USERS_HOURLY.table}\n"
        f"  WHERE hour >= {first} AND hour <= {last} AND NOT ({whole_day('toStartOfDay(hour)', (first, last))})\n"
        f"  AND {user} AND {fits(USERS_HOURLY)}\n"
        f"  UNION ALL\n"
        f"  SELECT u.tenant_id, u.user_id, ifNull(u.cost_usd, toDecimal128(0, 12)), toUInt64(1)\n"
        f"  FROM {DB}.llm_usage AS u\n"
        f"  WHERE {raw_calls(prefix='u.')} AND {partial_hours('u.')} AND {fits(USERS_DAILY)}\n"
        f"  UNION ALL\n"
        f"  SELECT q.tenant_id, q.user_id, q.cost_usd, q.calls FROM {DB}.requests AS q\n"
        f"  WHERE q.hour >= $__fromTime AND q.hour <= $__toTime AND NOT ({fits(USERS_DAILY)})\n"
        f"  AND {REQUEST_FILTERS}\n"
        f"  AND {PROVIDER_OF_REQUEST}\n"
        f"  AND $__conditionalAll(hasAny(q.models, [${{model:singlequote}}]), $model)\n"
        f")"
    )


def raw_calls(*extra: str, prefix: str = "", window: tuple[str, str] = RANGE) -> str:
    """Conditions on raw rows (`prefix`: their table's alias and a dot): the window and every variable, user
    included."""
    since, until = window
    return "\n  AND ".join((f"{prefix}ts >= {since} AND {prefix}ts <= {until}",
                            filters(*(n for n, _, _ in VARIABLES), prefix=prefix), *extra))


#: The time series bucket: the panel's interval, but never finer than the rollup's hour.
STEP = "toIntervalSecond(greatest($__interval_s, 3600))"
HOURS = f"toStartOfInterval(t, {STEP})"
DAYS = "toDateTime(toStartOfDay(t), 'UTC')"


def fill(days: bool = False) -> str:
    """WITH FILL over the range for a `time` column: every bucket drawn, 0 where nothing happened (per series
    when a series column is sorted first: use_with_fill_by_sorting_prefix, on by default)."""
    if days:
        return "WITH FILL FROM toDateTime(toStartOfDay($__fromTime), 'UTC') TO $__toTime STEP toIntervalDay(1)"
    return f"WITH FILL FROM toStartOfInterval($__fromTime, {STEP}) TO $__toTime STEP {STEP}"


def with_facts(body: str, **options) -> str:
    """`body` (a SELECT over `facts`) after facts(**options) of only the columns it names."""
    return f"WITH {facts(keep=uses(body), **options)}\n{body}"
