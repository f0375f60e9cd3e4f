"""SQL building blocks of the dashboards: filters by the dashboard variables and the sources they read.

Panels read the hourly rollup. The rollup has no user dimension (a user per row would defeat it), so when
the `user` variable picks users the same columns come from the raw rows instead: `facts()` is a UNION ALL
of both whose guards are exact complements, and only one side ever reads anything.
"""

from __future__ import annotations

from otel_llmcost.kinds import COUNTS
from otel_llmcost.store.rollups import COST_COLUMNS as COSTS
from otel_llmcost.store.rollups import REQUEST_COUNTS_HOURLY, USAGE_DAILY, USAGE_HOURLY, USERS_DAILY, Rollup

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


def whole_day(day_start: str, window: tuple[str, str] = RANGE) -> str:
    """The day starting at `day_start` has all its 24 hours in the window."""
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


def facts(window: tuple[str, str] = RANGE, by_day: bool = False, name: str = "facts") -> str:
    """`facts`: rows (t, the rollup's dimensions, its measures) of the window, filtered by every variable;
    from the rollups for its whole hours (`by_day`: see rollup_rows) and raw rows for the partial hours at
    its ends, so a range off the hour sums exactly its calls; from raw rows alone once users are picked."""
    dims = ", ".join(ROLLUP_DIMENSIONS)
    raw_dims = ", ".join(f"u.{d} AS {d}" for d in ROLLUP_DIMENSIONS)
    raw = ", ".join(f"{_RAW_MEASURES[m]} AS {m}" for m in _ROLLUP_MEASURES)
    rolled = rollup_rows(f"{dims}, {', '.join(_ROLLUP_MEASURES)}", whole_hours(window), by_day)
    return (
        f"{name} AS (\n"
        f"  {rolled}\n"
        f"  UNION ALL\n"
        f"  SELECT toStartOfHour(u.ts) AS t, {raw_dims}, {raw}\n"
        f"  FROM {DB}.llm_usage AS u\n"
        f"  WHERE {raw_calls(prefix='u.', window=window)}\n"
        f"  AND (NOT ({USER_ALL}) OR {partial_hours('u.', window)})\n"
        f")"
    )


def request_counts(window: tuple[str, str] = RANGE, name: str = "rcounts") -> str:
    """`rcounts`: hourly sets of requests (t, the rollup's dimensions but status, `requests`), filtered by
    every variable; uniqExactMerge(requests) counts each request with a call in range once, whatever hours,
    models or groups it spans. The partial hours at the range's ends come from raw rows, like `facts`, and
    everything once users are picked."""
    dims = [d for d in ROLLUP_DIMENSIONS if d != "status"]
    rolled = rollup_rows(", ".join(dims + ["requests"]), whole_hours(window), hourly=REQUEST_COUNTS_HOURLY)
    return (
        f"{name} AS (\n"
        f"  {rolled}\n"
        f"  UNION ALL\n"
        f"  SELECT toStartOfHour(u.ts) AS t, {', '.join(f'u.{d} AS {d}' for d in dims)},\n"
        f"    uniqExactState(toString(u.tenant_id), u.request_id) AS requests\n"
        f"  FROM {DB}.llm_usage AS u\n"
        f"  WHERE {raw_calls(prefix='u.', window=window)}\n  AND (NOT ({USER_ALL}) OR {partial_hours('u.', window)})\n"
        f"  GROUP BY {', '.join(['t'] + dims)}\n"
        f")"
    )


#: The requests table's hours of the range (its rows are per request and hour).
REQUEST_HOURS = "q.hour >= toStartOfHour($__fromTime) AND q.hour <= $__toTime"


#: The variables the requests table `q` has a column for, as conditions on it.
REQUEST_FILTERS = filters("tenant", "environment", "service", "feature", "user", prefix="q.")
#: The provider filter on requests rows (which keep no provider): the requests that called one, from raw rows.
PROVIDER_OF_REQUEST = (
    f"$__conditionalAll((q.tenant_id, q.request_id) IN (SELECT tenant_id, request_id FROM {DB}.llm_usage "
    f"WHERE $__timeFilter(ts) AND provider IN (${{provider:singlequote}})), $provider)")


def users() -> str:
    """`users`: (tenant_id, user_id, cost_usd, calls) rows of the range's hours, filtered by every variable:
    usage per user from users_daily for whole days, from the requests rows for the other hours (or for all
    once a variable users_daily has no column for is picked: models and providers as `reqs` filters them)."""
    day = "toDateTime(day, 'UTC')"
    return (
        f"users AS (\n"
        f"  SELECT tenant_id, user_id, cost_usd, calls FROM {DB}.users_daily\n"
        f"  WHERE {whole_day(day)} AND day >= toDate($__fromTime, 'UTC') AND day <= toDate($__toTime, 'UTC')\n"
        f"  AND {filters(*_variables_of(USERS_DAILY)[0], 'user')} AND {fits(USERS_DAILY)}\n"
        f"  UNION ALL\n"
        f"  SELECT q.tenant_id, q.user_id, q.cost_usd, q.calls FROM {DB}.requests AS q\n"
        f"  WHERE q.hour >= $__fromTime AND q.hour <= $__toTime\n"
        f"  AND (NOT ({whole_day('toStartOfDay(q.hour)')}) OR NOT ({fits(USERS_DAILY)}))\n"
        f"  AND {REQUEST_FILTERS}\n"
        f"  AND {PROVIDER_OF_REQUEST}\n"
        f"  AND $__conditionalAll(hasAny(q.models, [${{model:singlequote}}]), $model)\n"
        f")"
    )


def requests(extra_columns: str = "", only: str = "") -> str:
    """`reqs`: one row per request that started in the range, filtered by every variable. A request may use
    several models: the model filter keeps those that used one of the chosen; the requests table has no
    provider, so that filter asks the raw rows which requests called one. `extra_columns`: more aggregates
    over the requests table `q`, after a comma; `only`: a condition on its rows."""
    sums = ", ".join(f"sum(q.{m}) AS {m}" for m in ("calls", "failed_calls", "retry_calls", *COUNTS, *COSTS))
    anys = ", ".join(f"any(q.{c}) AS {c}" for c in ("environment", "service_name", "feature", "user_id", "session_id"))
    return (
        f"reqs AS (\n"
        f"  SELECT q.tenant_id AS tenant_id, q.request_id AS request_id, min(q.first_ts) AS first_ts,\n"
        f"    max(q.last_ts) AS last_ts, {anys},\n    max(q.attempts) AS attempts, {sums},\n"
        f"    groupUniqArrayArray(q.models) AS models{extra_columns}\n"
        f"  FROM {DB}.requests AS q\n"
        f"  WHERE {REQUEST_HOURS}{f' AND {only}' if only else ''}\n"
        f"  AND {REQUEST_FILTERS}\n"
        f"  AND {PROVIDER_OF_REQUEST}\n"
        f"  GROUP BY q.tenant_id, q.request_id\n"
        f"  HAVING first_ts >= $__fromTime AND first_ts <= $__toTime\n"
        f"  AND $__conditionalAll(hasAny(models, [${{model:singlequote}}]), $model)\n"
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
