"""The SQL of `why` and `request`: per-segment figures of a range, request counts, top requests, one request.

Segments are (feature, provider, requested model). The figures come from rollup-shaped rows
(usage_stats.rollup_source): usage_hourly and request_counts_hourly for whole hours, llm_usage for the
partial hours at the two ends, so every figure equals the raw rows'. The rollups keep no user: with the user
scope the same rows, with a user column, come from llm_usage for the whole range. Values are query
parameters; every scope filter is a column of the rows it filters.
"""

from __future__ import annotations

import dataclasses

from otel_llmcost.kinds import COUNTS as USAGE_KINDS
from otel_llmcost.reports.usage_stats import rollup_source
from otel_llmcost.store.rollups import COST_COLUMNS, REQUEST_COUNTS_HOURLY, REQUESTS, USAGE_HOURLY, Rollup

#: scope flag -> column of llm_usage, and of usage_hourly and request_counts_hourly but for user_id
SCOPES = {"tenant": "tenant_id", "feature": "feature", "model": "request_model", "provider": "provider",
          "user": "user_id"}
#: what a segment's figures hold: counts, then token sums, then cost sums (our costs; not the emitter's)
COUNTS = ("calls", "retry_calls", "failed_calls", "unpriced_calls")
COSTS = tuple(name for name in COST_COLUMNS if name != "emitter_cost_usd")

def _narrowed(rollup: Rollup, names: tuple[str, ...]) -> Rollup:
    """The rollup with only these measures: its partial hours compute no quantile states, its whole hours
    read no columns the report does not use."""
    return dataclasses.replace(rollup, measures=tuple(m for m in rollup.measures if m[0] in names))


_USAGE = _narrowed(USAGE_HOURLY, COUNTS + USAGE_KINDS + COSTS)
_REQUESTS = _narrowed(REQUESTS, ("first_ts", "feature", "user_id", "attempts", "calls", "failed_calls", "cost_usd",
                                 "models"))
_RANGE = "u.ts >= {since:DateTime64(6, 'UTC')} AND u.ts < {until:DateTime64(6, 'UTC')}"
_IN_SEGMENTS = ("(r.feature, r.provider, r.request_model) IN (SELECT arrayJoin(arrayZip("
                "{features:Array(String)}, {providers:Array(String)}, {models:Array(String)})))")


def _source(database: str, rollup: Rollup, scope: dict[str, str]) -> str:
    """Rows shaped like `rollup`'s over [since, until) (rollup_source); with the user scope, from llm_usage
    alone for the whole range, with a user_id column."""
    if "user" not in scope:
        return rollup_source(database, rollup)
    by_user = dataclasses.replace(rollup, keys=rollup.keys + (("user_id", "", "u.user_id"),))
    return by_user.select(f"{database}.llm_usage", _RANGE)


def scope_where(scope: dict[str, str], alias: str = "r") -> str:
    return " AND ".join(f"{alias}.{SCOPES[name]} = {{scope_{name}:String}}" for name in sorted(scope)) or "1"


def scope_params(scope: dict[str, str]) -> dict[str, str]:
    return {f"scope_{name}": value for name, value in scope.items()}


def segments(database: str, scope: dict[str, str]) -> str:
    sums = ",\n    ".join([f"sum(r.{name}) AS {name}" for name in COUNTS + USAGE_KINDS]
                          + [f"toString(sum(r.{name})) AS {name}" for name in COSTS])
    return f"""
SELECT r.feature AS feature, r.provider AS provider, r.request_model AS model,
    {sums}
FROM ({_source(database, _USAGE, scope)}) AS r
WHERE {scope_where(scope)}
GROUP BY feature, provider, model
"""


def requests_in(database: str, scope: dict[str, str]) -> str:
    """Distinct (tenant, request) with a call in range (`requests`), and with one in the segments of
    segment_params (`in_segments`)."""
    return f"""
SELECT uniqExactMerge(r.requests) AS requests, uniqExactMergeIf(r.requests, {_IN_SEGMENTS}) AS in_segments
FROM ({_source(database, REQUEST_COUNTS_HOURLY, scope)}) AS r
WHERE {scope_where(scope)}
"""


def segment_params(keys: list[tuple[str, str, str]]) -> dict[str, list[str]]:
    """Segments (feature, provider, model) as requests_in's parameters."""
    return {name: [key[n] for key in keys] for n, name in enumerate(("features", "providers", "models"))}


def top_requests(database: str, scope: dict[str, str]) -> str:
    """The {limit:UInt32} most expensive requests of the range, from the requests table (a request's feature
    and user are those of its calls; the model filter keeps requests with a call asking for that model, the
    provider filter those with a call to it, which the raw rows of the range tell)."""
    conditions = [f"r.{SCOPES[name]} = {{scope_{name}:String}}" for name in sorted(scope)
                  if name not in ("model", "provider")]
    if "model" in scope:
        conditions.append("has(r.models, {scope_model:String})")
    if "provider" in scope:
        conditions.append(f"(r.tenant_id, r.request_id) IN (SELECT u.tenant_id, u.request_id FROM {database}.llm_usage"
                          f" AS u WHERE {_RANGE} AND u.provider = {{scope_provider:String}})")
    return f"""
SELECT r.tenant_id AS tenant_id, r.request_id AS request_id, toString(min(r.first_ts)) AS started,
    any(r.feature) AS request_feature, any(r.user_id) AS user, sum(r.calls) AS request_calls,
    max(r.attempts) AS request_attempts, sum(r.failed_calls) AS request_failed_calls,
    toString(sum(r.cost_usd)) AS request_cost_usd
FROM ({rollup_source(database, _REQUESTS)}) AS r
WHERE {" AND ".join(conditions) or "1"}
GROUP BY tenant_id, request_id
ORDER BY sum(r.cost_usd) DESC, tenant_id, request_id
LIMIT {{limit:UInt32}}
"""


_CALL_COLUMNS = ", ".join(("tenant_id", "request_id", "attempt", "toString(ts) AS started", "feature", "provider",
                           "request_model", "response_model", "status", "error_type", *USAGE_KINDS,
                           "toString(cost_usd) AS cost", "cost_status", "latency_ms", "ttft_ms", "trace_id",
                           "span_id"))


def calls_of_requests(database: str) -> str:
    """The calls in [since, until) of the requests ({tenants:Array(String)}[i], {request_ids:Array(String)}[i])."""
    return f"""
SELECT {_CALL_COLUMNS}
FROM {database}.llm_usage
WHERE ts >= {{since:DateTime64(6, 'UTC')}} AND ts < {{until:DateTime64(6, 'UTC')}}
  AND (tenant_id, request_id) IN (SELECT arrayJoin(arrayZip({{tenants:Array(String)}}, {{request_ids:Array(String)}})))
ORDER BY tenant_id, request_id, ts, attempt
"""


def find_request(database: str, with_tenant: bool) -> str:
    """Where a request id lives: per tenant, its first and last call (the requests table is keyed by
    tenant, hour and request, so this reads far fewer rows than llm_usage)."""
    tenant = " AND tenant_id = {tenant:String}" if with_tenant else ""
    return f"""
SELECT tenant_id, toString(min(first_ts)) AS first_ts, toString(max(last_ts)) AS last_ts
FROM {database}.requests
WHERE request_id = {{request_id:String}}{tenant}
GROUP BY tenant_id ORDER BY tenant_id
"""


def request_calls(database: str) -> str:
    """Every call of one request, in time order."""
    return f"""
SELECT {_CALL_COLUMNS}, environment, service_name, user_id, session_id, operation, streaming
FROM {database}.llm_usage
WHERE tenant_id = {{tenant:String}} AND request_id = {{request_id:String}}
  AND ts >= {{first_ts:DateTime64(6, 'UTC')}} AND ts <= {{last_ts:DateTime64(6, 'UTC')}}
ORDER BY ts, attempt, span_id
"""
