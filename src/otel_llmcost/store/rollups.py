"""The tables materialized views keep from llm_usage: usage_hourly, usage_daily, requests,
request_counts_hourly, errors_hourly, users_daily, latency_hourly, latency_daily, projects_hourly, (migration 014)
usage_all_hourly, usage_all_daily, features_hourly, features_daily and users_hourly, and (migration 015)
sessions_daily, session_peaks_daily, session_peaks_all_daily, statement_hourly and statement_daily.

Their columns and the views' SELECTs are rendered here from the llm_usage column list (store/schema.py),
so every token and cost column of llm_usage has its sum under its own name. Migrations hold them as literal
SQL, written when they were added (an applied migration never changes); the newest migration's view SELECTs
equal these (a test checks). The same SELECT, limited to one monthly partition and to the columns the table
has at that point of a migration, rebuilds a rollup from raw rows after `reprice` (whose mutation the views
never see).

Sums are SimpleAggregateFunction(sum, ...): a plain `sum(col)` in a GROUP BY reads them. Quantiles are
AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64) states, read with
quantilesTDigestMerge(0.5, 0.95, 0.99)(col). Request counts are exact distinct sets of (tenant_id,
request_id), read with uniqExactMerge(requests): a set, unlike a count, stays exact when merged across hours
and groups (a request with calls in two hours or on two models is one request).

Source columns are qualified (`u.`) because each sum's alias is the source column's own name, and
ClickHouse would otherwise read a later `u.cost_usd` as the sum.

A rollup with a `source` is kept from another rollup's inserted blocks (a daily table from its hourly one: a
cascade reads the hourly view's output, far fewer rows than the raw block): its view re-aggregates the source's
rows (sums of sums, merged states). Its `select()` from llm_usage stays what it holds, for the checks.

Every-tenant rollups (usage_all_*) hold the totals of all tenants under the reserved tenant id `*all*`: no
ingest key can name it (keys.py, ingest), and the tenant row policies keep a tenant's own rows only, so only
admin sessions read them. Their request counts, like features_*, are HyperLogLog sketches (uniqCombined(12),
~1.6 % standard error, exact for small sets): an exact set of every request of a month cannot be merged in a
dashboard's time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # migrations imports this module
    from otel_llmcost.store import SchemaStore

import re
from dataclasses import dataclass, replace

from otel_llmcost.kinds import COUNTS
from otel_llmcost.store.policies import ALL_TENANTS
from otel_llmcost.store.schema import COLUMNS, USD

#: A call's cost at the providers' list price (over llm_usage AS u): before the price book's contract multiplier.
LIST_COST = ("toDecimal128(toDecimal256(ifNull(u.cost_usd, 0), 12) / "
             "if(u.price_multiplier = 0, toDecimal64(1, 9), u.price_multiplier), 12)")
_QUANTILE_STATE = "AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64)"
_SUM_COUNT = "SimpleAggregateFunction(sum, UInt64)"
_SUM_USD = "SimpleAggregateFunction(sum, Decimal(38, 12))"
_SUM_FLOAT = "SimpleAggregateFunction(sum, Float64)"
_TYPES = {name: ch_type for name, ch_type, _ in COLUMNS}

#: Every cost column of llm_usage (our costs by kind, their total, and the emitter's own figure).
COST_COLUMNS = tuple(name for name, ch_type, _ in COLUMNS if ch_type == USD)
#: (column, type, expression over llm_usage AS u): what both the rollups and requests count and sum.
_CALL_MEASURES = (
    ("calls", _SUM_COUNT, "count()"),
    ("failed_calls", _SUM_COUNT, "countIf(u.status = 'error')"),
    ("retry_calls", _SUM_COUNT, "countIf(u.attempt > 1)"),
    *((kind, _SUM_COUNT, f"sum(u.{kind})") for kind in COUNTS),
    *((name, _SUM_USD, f"sum(ifNull(u.{name}, 0))") for name in COST_COLUMNS),
    # calls whose counts cannot be right (the row check refused them): no cost, but never "no price"
    ("invalid_usage_calls", _SUM_COUNT, "countIf(u.cost_status = 'invalid_usage')"),
)
_ROLLUP_MEASURES = _CALL_MEASURES + (
    ("unpriced_calls", _SUM_COUNT, "countIf(u.cost_status = 'unpriced')"),
    ("estimated_calls", _SUM_COUNT, "countIf(u.cost_status = 'estimated')"),
    ("latency_ms_sum", _SUM_FLOAT, "sum(u.latency_ms)"),
    ("ttft_ms_sum", _SUM_FLOAT, "sum(ifNull(u.ttft_ms, 0))"),
    ("ttft_calls", _SUM_COUNT, "countIf(u.ttft_ms IS NOT NULL)"),
    ("latency_ms_quantiles", _QUANTILE_STATE, "quantilesTDigestState(0.5, 0.95, 0.99)(u.latency_ms)"),
    ("ttft_ms_quantiles", _QUANTILE_STATE,
     "quantilesTDigestStateIf(0.5, 0.95, 0.99)(ifNull(u.ttft_ms, 0), u.ttft_ms IS NOT NULL)"),
    # added by migration 006 (ADD COLUMN appends): keep it last, so old and new tables have one column order
    ("retry_cost_usd", _SUM_USD, "sumIf(ifNull(u.cost_usd, 0), u.attempt > 1)"),
    # added by migration 011: the provider's list price, before the price book's contract multiplier (cost_usd
    # is the effective cost, after it). In Decimal256 while divided, so no cost can overflow; a multiplier of 0
    # (nothing charged) counts as 1, as the statement does. Exact to the 12th decimal, then cut.
    ("list_cost_usd", _SUM_USD, f"sum({LIST_COST})"),
)
_ROLLUP_DIMENSIONS = ("tenant_id", "environment", "service_name", "feature", "provider", "request_model", "status")
_REQUEST_ATTRIBUTES = ("environment", "service_name", "feature", "user_id", "session_id")


@dataclass(frozen=True)
class Rollup:
    """A table kept by the materialized view `<table>_mv` from llm_usage."""

    table: str
    keys: tuple[tuple[str, str, str], ...]  # (column, type, expression): the GROUP BY, leading the sort key
    measures: tuple[tuple[str, str, str], ...]
    only: str = ""  # a condition on the calls it keeps (all when empty)
    source: Rollup | None = None  # the rollup whose inserted rows its view reads (None: llm_usage)
    #: with a source: its keys and measures are expressions over the source's rows (not a re-aggregation of
    #: them), e.g. the costliest of the source's rows; from raw rows, over the source's SELECT of them
    over_source: bool = False

    def columns(self) -> str:
        return ",\n".join(f"    {name} {ch_type}" for name, ch_type, _ in self.keys + self.measures)

    def names(self) -> str:
        """Its columns by name, in the order of select()'s outputs (a UNION ALL beside it matches by position)."""
        return ", ".join(name for name, _, _ in self.keys + self.measures)

    def select(self, source: str, where: str = "") -> str:
        """The view's SELECT from `source` (db.llm_usage), optionally limited by a WHERE condition.
        Every group stays inside one month, so each row lands in the partition of its raw rows."""
        outputs = ",\n    ".join(f"{expression} AS {name}" for name, _, expression in self.keys + self.measures)
        keys = ", ".join(name for name, _, _ in self.keys)
        condition = " AND ".join(f"({c})" for c in (self.only, where) if c)
        if self.over_source and self.source and source.split(".")[-1].startswith("llm_usage"):
            source = f"(\n{self.source.select(source)}\n)"
        return (f"SELECT\n    {outputs}\nFROM {source} AS u\n" + (f"WHERE {condition}\n" if condition else "")
                + f"GROUP BY {keys}")

    def view_select(self, database: str, local: str = "", where: str = "") -> str:
        """What its view runs on each inserted block (and a rebuild on a partition): the SELECT from llm_usage,
        or from its source rollup's rows, re-aggregated."""
        if self.source is None:
            return self.select(f"{database}.llm_usage{local}", where)
        if self.over_source:
            return self.select(f"{database}.{self.source.table}{local}", where)
        return self.rolled_up().select(f"{database}.{self.source.table}{local}", where)

    def rolled_up(self) -> Rollup:
        """This rollup as a re-aggregation of its source's rows: a day from its hours, sums summed, states merged."""
        assert self.source is not None
        source_keys = {name for name, _, _ in self.source.keys}

        def key(name: str, expression: str) -> str:
            if name == "day" and name not in source_keys:
                return "toDate(u.hour)"
            return expression if expression == _EVERY_TENANT_KEY[2] else f"u.{name}"

        # the source keeps only the calls `only` names: its rows are all of them
        return replace(self, keys=tuple((name, ch_type, key(name, expr)) for name, ch_type, expr in self.keys),
                       measures=tuple((name, ch_type, _merged(name, ch_type)) for name, ch_type, _ in self.measures),
                       source=None, only="")


_STATE = re.compile(r"^AggregateFunction\((\w+)(\([^()]*\))?, ")


def _merged(name: str, ch_type: str) -> str:
    """The aggregate that merges a column of this type over rows of it."""
    if ch_type.startswith("SimpleAggregateFunction("):
        return f"{ch_type[len('SimpleAggregateFunction('):].split(',')[0]}(u.{name})"
    state = _STATE.match(ch_type)
    if state is None:
        raise ValueError(f"{name} {ch_type}: not an aggregate column")
    function, parameters = state.groups()
    return f"{function}MergeState{parameters or ''}(u.{name})"


def _keys(*names: str) -> tuple[tuple[str, str, str], ...]:
    """Group keys that are llm_usage columns, under their own names."""
    return tuple((name, _TYPES[name], f"u.{name}") for name in names)


_DIMENSION_KEYS = _keys(*_ROLLUP_DIMENSIONS)
_HOUR_KEY = ("hour", "DateTime('UTC')", "toStartOfHour(u.ts)")
_DAY_KEY = ("day", "Date", "toDate(u.ts)")
USAGE_HOURLY = Rollup("usage_hourly", (_HOUR_KEY,) + _DIMENSION_KEYS, _ROLLUP_MEASURES)
USAGE_DAILY = Rollup("usage_daily", (_DAY_KEY,) + _DIMENSION_KEYS, _ROLLUP_MEASURES)
# `hour` is in the key so a list of a day's requests reads a day of the table, and `stats` can take whole
# hours from here and only the partial hours at a range's ends from raw rows. Readers GROUP BY tenant_id,
# request_id (a request spanning an hour boundary, or written in two batches, has several rows).
REQUESTS = Rollup(
    "requests",
    (*_keys("tenant_id"), _HOUR_KEY, *_keys("request_id")),
    (("first_ts", "SimpleAggregateFunction(min, DateTime64(6, 'UTC'))", "min(u.ts)"),
     ("last_ts", "SimpleAggregateFunction(max, DateTime64(6, 'UTC'))", "max(u.ts)"),
     *((name, f"SimpleAggregateFunction(any, {_TYPES[name]})", f"any(u.{name})") for name in _REQUEST_ATTRIBUTES),
     ("attempts", "SimpleAggregateFunction(max, UInt16)", "max(u.attempt)"),
     *_CALL_MEASURES,
     # beyond the contract, for the drill-down's request list: the list reads no raw rows
     ("unpriced_calls", _SUM_COUNT, "countIf(u.cost_status = 'unpriced')"),
     ("latency_ms_sum", _SUM_FLOAT, "sum(u.latency_ms)"),
     ("max_latency_ms", "SimpleAggregateFunction(max, Float64)", "max(u.latency_ms)"),
     ("models", "SimpleAggregateFunction(groupUniqArrayArray, Array(String))",
      "groupUniqArray(toString(u.request_model))"),
     ("last_status", "AggregateFunction(argMax, LowCardinality(String), DateTime64(6, 'UTC'))",
      "argMaxState(u.status, u.ts)")),
)
_NO_STATUS = tuple(key for key in _DIMENSION_KEYS if key[0] != "status")
# The request counts the overview and `stats` show, by the rollup dimensions but status (a request's
# failed and successful attempts are one request): summing `requests`' rows per group would count a
# request once per hour and per model it touched.
REQUEST_COUNTS_HOURLY = Rollup(
    "request_counts_hourly", (_HOUR_KEY,) + _NO_STATUS,
    (("requests", "AggregateFunction(uniqExact, String, String)",
      "uniqExactState(toString(u.tenant_id), u.request_id)"),),
)
# Failed calls by error type (no dimension of usage_hourly: its rows would multiply by error types).
ERRORS_HOURLY = Rollup(
    "errors_hourly", (_HOUR_KEY,) + _NO_STATUS + _keys("error_type"),
    (("failed_calls", _SUM_COUNT, "count()"), ("cost_usd", _SUM_USD, "sum(ifNull(u.cost_usd, 0))")),
    only="u.status = 'error'",
)
# Spend per user and day: the user variable and the top-users tables (users are no dimension of the others).
USERS_DAILY = Rollup(
    "users_daily",
    (_DAY_KEY,) + _keys("tenant_id", "user_id"),
    _CALL_MEASURES,
)
# Latency percentiles by model alone: merging t-digest states costs ~1 us each, and usage_hourly has a state
# per environment, service, feature and status too (~25 times as many).
_MODEL_KEYS = _keys("tenant_id", "provider", "request_model")
_QUANTILES = tuple(measure for measure in _ROLLUP_MEASURES if measure[1] == _QUANTILE_STATE)
LATENCY_HOURLY = Rollup("latency_hourly", (_HOUR_KEY,) + _MODEL_KEYS, _QUANTILES)
LATENCY_DAILY = Rollup("latency_daily", (_DAY_KEY,) + _MODEL_KEYS, _QUANTILES)
# Chargeback below the tenant (migration 011): spend per project and per ingest API key, by hour. A table of
# its own rather than two more keys of usage_hourly, which would multiply that table's rows (and every
# dashboard's reads) by projects x keys; the calls stored before 011 are rebuilt into it with project and key
# '' (they recorded neither), so every total stays the raw rows' own. Stats, the project panels and the
# project and key budgets read it; its request sets count a project's requests.
PROJECTS_HOURLY = Rollup(
    "projects_hourly", (_HOUR_KEY,) + _keys("tenant_id", "project", "api_key_id"),
    _CALL_MEASURES + tuple(m for m in _ROLLUP_MEASURES if m[0] in ("unpriced_calls", "latency_ms_sum", "list_cost_usd"))
    + REQUEST_COUNTS_HOURLY.measures,
)
# Migration 014, for dashboards at 100 M calls of any shape (issue 21): the smallest table that answers each panel.
#: A request count that merges cheaply: a HyperLogLog sketch of (tenant, request id), exact for small sets.
REQUEST_SKETCH = ("requests", "AggregateFunction(uniqCombined(12), String, String)",
                  "uniqCombinedState(12)(toString(u.tenant_id), u.request_id)")
_SUMS = tuple(measure for measure in _ROLLUP_MEASURES if measure[1] != _QUANTILE_STATE)
_EVERY_TENANT_KEY = ("tenant_id", "LowCardinality(String)", f"'{ALL_TENANTS}'")
# Every tenant's calls together, by the other dimensions: what a dashboard over all tenants reads (usage_hourly
# holds a row per tenant too, ~200 times as many with 200 even tenants), with the request sketches.
USAGE_ALL_HOURLY = Rollup("usage_all_hourly", (_EVERY_TENANT_KEY, _HOUR_KEY) + _DIMENSION_KEYS[1:],
                          _ROLLUP_MEASURES + (REQUEST_SKETCH,))
USAGE_ALL_DAILY = Rollup("usage_all_daily", (_EVERY_TENANT_KEY, _DAY_KEY) + _DIMENSION_KEYS[1:],
                         USAGE_ALL_HOURLY.measures, source=USAGE_ALL_HOURLY)
# Every tenant's requests by hour and by day, one sketch each (from usage_all_hourly's rows): the request count
# over all tenants with nothing else picked merges a sketch per day, not one per day and group.
REQUESTS_ALL_HOURLY = Rollup("requests_all_hourly", (_EVERY_TENANT_KEY, _HOUR_KEY), (REQUEST_SKETCH,),
                             source=USAGE_ALL_HOURLY)
REQUESTS_ALL_DAILY = Rollup("requests_all_daily", (_EVERY_TENANT_KEY, _DAY_KEY), (REQUEST_SKETCH,),
                            source=REQUESTS_ALL_HOURLY)
# Spend per tenant and feature: the rankings of tenants and features (by tenant) and the request sketches a
# tenant's panels merge.
FEATURES_HOURLY = Rollup("features_hourly", (_HOUR_KEY,) + _keys("tenant_id", "feature"), _SUMS + (REQUEST_SKETCH,))
FEATURES_DAILY = Rollup("features_daily", (_DAY_KEY,) + _keys("tenant_id", "feature"), FEATURES_HOURLY.measures,
                        source=FEATURES_HOURLY)
# Failed calls of every tenant by error type (from errors_hourly's rows), by hour and by day.
ERRORS_ALL_HOURLY = Rollup("errors_all_hourly", (_EVERY_TENANT_KEY, _HOUR_KEY) + _NO_STATUS[1:] + _keys("error_type"),
                           ERRORS_HOURLY.measures, only=ERRORS_HOURLY.only, source=ERRORS_HOURLY)
ERRORS_ALL_DAILY = Rollup("errors_all_daily", (_EVERY_TENANT_KEY, _DAY_KEY) + _NO_STATUS[1:] + _keys("error_type"),
                          ERRORS_HOURLY.measures, only=ERRORS_HOURLY.only, source=ERRORS_ALL_HOURLY)
# Chargeback by day (from projects_hourly's rows): what its panels sum, for the whole days of a range.
PROJECTS_DAILY = Rollup("projects_daily", (_DAY_KEY,) + _keys("tenant_id", "project", "api_key_id"),
                        tuple(m for m in PROJECTS_HOURLY.measures
                              if m[0] in ("calls", "unpriced_calls", "cost_usd", "list_cost_usd")),
                        source=PROJECTS_HOURLY)
# Spend per user and hour: the hours of a range outside its whole days (users_daily has the days).
USERS_HOURLY = Rollup("users_hourly", (_HOUR_KEY,) + _keys("tenant_id", "user_id"),
                      tuple(m for m in _CALL_MEASURES if m[0] in ("calls", "failed_calls", "cost_usd")))
# Migration 015 (issue 21): sessions and the statement's grain.
# Spend per session and day (calls with a session id): the most expensive sessions re-sum their candidates' rows
# (sorted by tenant and session, so a candidate is a lookup); a minmax index on cost finds the candidates.
SESSIONS_DAILY = Rollup(
    "sessions_daily", (*_keys("tenant_id", "session_id"), _DAY_KEY),
    (*(m for m in _CALL_MEASURES if m[0] in ("calls", "cost_usd")), REQUEST_SKETCH,
     ("first_ts", "SimpleAggregateFunction(min, DateTime64(6, 'UTC'))", "min(u.ts)"),
     ("last_ts", "SimpleAggregateFunction(max, DateTime64(6, 'UTC'))", "max(u.ts)")),
    only="u.session_id != ''")
#: The costliest session-day rows of a tenant's day, negated (groupArraySorted keeps the lowest): over a range's
#: days, the 100th of them is a floor that at least the sessions owning the 100 top rows reach.
PEAKS = 100
SESSION_PEAKS_DAILY = Rollup(
    "session_peaks_daily", (*_keys("tenant_id"), ("day", "Date", "u.day")),
    (("peak_costs", f"AggregateFunction(groupArraySorted({PEAKS}), Decimal(38, 12))",
      f"groupArraySortedState({PEAKS})(-u.cost_usd)"),),
    source=SESSIONS_DAILY, over_source=True)
# The same of every tenant's session-days (tenant '*all*'): over all tenants, a state per day, not per tenant and day.
SESSION_PEAKS_ALL_DAILY = replace(SESSION_PEAKS_DAILY, table="session_peaks_all_daily",
                                  keys=(_EVERY_TENANT_KEY, SESSION_PEAKS_DAILY.keys[1]))
#: The model a call is billed under (the statement's): the one that answered, else the one asked.
BILLED_MODEL = "if(u.response_model != '', u.response_model, u.request_model)"
# A statement line's calls by hour and by day (from the hours): tenant, project, feature, provider and billed model.
# The statement rounds each line's billed cost, so only sums at this grain give its figures exactly.
_LINE_KEYS = (*_keys("tenant_id", "project", "feature", "provider"), ("model", "LowCardinality(String)", BILLED_MODEL))
STATEMENT_HOURLY = Rollup("statement_hourly", (_HOUR_KEY, *_LINE_KEYS),
                          tuple(m for m in _ROLLUP_MEASURES if m[0] in ("calls", "cost_usd", "list_cost_usd")))
STATEMENT_DAILY = Rollup("statement_daily", (_DAY_KEY, *_LINE_KEYS), STATEMENT_HOURLY.measures,
                         source=STATEMENT_HOURLY)
#: In build order: a source before the rollups fed from it.
ROLLUPS = (USAGE_HOURLY, USAGE_DAILY, REQUESTS, REQUEST_COUNTS_HOURLY, ERRORS_HOURLY, USERS_DAILY, LATENCY_HOURLY,
           LATENCY_DAILY, PROJECTS_HOURLY, USAGE_ALL_HOURLY, USAGE_ALL_DAILY, FEATURES_HOURLY, FEATURES_DAILY,
           USERS_HOURLY, ERRORS_ALL_HOURLY, ERRORS_ALL_DAILY, PROJECTS_DAILY, REQUESTS_ALL_HOURLY, REQUESTS_ALL_DAILY,
           SESSIONS_DAILY, SESSION_PEAKS_DAILY, SESSION_PEAKS_ALL_DAILY, STATEMENT_HOURLY,
           STATEMENT_DAILY)


_SPILL_BYTES = 2 << 30  # bytes of GROUP BY state a rebuild keeps in memory
_PARTITION_ID = re.compile(r"^\d{6}$")  # toYYYYMM: the partition of llm_usage and of every rollup
_PARTITIONS = "SELECT DISTINCT _partition_id AS partition FROM {table}"


def rebuild(store: SchemaStore, partitions: list[str] | None, which: tuple[Rollup, ...] = ROLLUPS) -> None:
    """Make these rollups' monthly partitions (all when None) exactly what the views would build from the
    raw rows in llm_usage now (a cascaded rollup from its source, rebuilt before it when both are asked). Each is
    built in a fresh staging table (no dedup history there) and swapped in with REPLACE PARTITION, so readers
    see the old totals or the new, never a gap.
    """
    database = store.database
    for rollup in which:
        target, staging = f"{database}.{rollup.table}", f"{database}.{rollup.table}_rebuild"
        wanted = partitions
        if wanted is None:
            source = f"{database}.{rollup.source.table if rollup.source else 'llm_usage'}"
            wanted = sorted({row["partition"] for table in (source, target)
                             for row in store.query(_PARTITIONS.format(table=table))})
        if not wanted:
            continue
        if not all(_PARTITION_ID.match(partition) for partition in wanted):
            raise ValueError(f"not monthly partition ids: {wanted}")
        store.command(f"DROP TABLE IF EXISTS {staging}")
        store.command(f"CREATE TABLE {staging} AS {target}")
        # during a migration the table may not have every measure yet (a later migration adds them)
        present = {row["name"] for row in store.query(f"DESCRIBE TABLE {staging}")}
        limited = replace(rollup, measures=tuple(m for m in rollup.measures if m[0] in present))
        where = "u._partition_id IN {partitions:Array(String)}"
        # groups beyond this many bytes spill to disk: a 100M-call month has tens of millions of session or request
        # groups, each with its states
        store.command(f"INSERT INTO {staging} ({limited.names()}) {limited.view_select(database, where=where)}"
                      f" SETTINGS max_bytes_before_external_group_by = {_SPILL_BYTES}", {"partitions": wanted})
        built = {row["partition"] for row in store.query(_PARTITIONS.format(table=staging))}
        for partition in wanted:  # a month without such calls (errors_hourly) has no part to replace with
            store.command(f"ALTER TABLE {target} REPLACE PARTITION ID '{partition}' FROM {staging}" if partition
                          in built else f"ALTER TABLE {target} DROP PARTITION ID '{partition}'")
        store.command(f"DROP TABLE {staging}")
