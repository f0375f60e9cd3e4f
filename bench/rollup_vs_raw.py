"""Rollups against raw rows, for bench/query_speed.py: `stats` as the CLI runs it, and hand-written pairs for
the overview's key panels (each once on llm_usage, once on the rollups the dashboards read). The pairs are not the
dashboards' SQL (the main table times that): they show what reading the rollups saves."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from otel_llmcost.reports.usage_stats import StatsQuery

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.dashboards.drilldown import LIST_CALLS, LIST_LOOKBACK  # noqa: E402  (the repository's scripts/)

Statement = tuple[str, dict[str, str]]  # SQL, its query parameters


@dataclass(frozen=True)
class Pair:
    name: str
    raw: Statement
    rollup: list[Statement]  # run one after the other, timed together
    target_ms: int | None  # issue 9's target where the rollup side is a real reader (`stats`)


_RAW = "ts >= {since:DateTime('UTC')} AND ts <= {until:DateTime('UTC')}"
_HOURS = "hour >= {since:DateTime('UTC')} AND hour <= {until:DateTime('UTC')}"
_BUCKET = "INTERVAL {interval:UInt32} second"
#: name -> (raw SQL, rollup SQL); {where} is the range and tenant condition on the table's time column
PANELS = {
    "total cost": ("SELECT sum(cost_usd) FROM llmcost.llm_usage WHERE {where}",
                   "SELECT sum(cost_usd) FROM llmcost.usage_hourly WHERE {where}"),
    "cost over time by feature": (
        f"SELECT toStartOfInterval(ts, {_BUCKET}) AS time, feature, sum(cost_usd) FROM llmcost.llm_usage"
        " WHERE {where} GROUP BY time, feature ORDER BY time, feature",
        f"SELECT toStartOfInterval(hour, {_BUCKET}) AS time, feature, sum(cost_usd) FROM llmcost.usage_hourly"
        " WHERE {where} GROUP BY time, feature ORDER BY time, feature"),
    "top tenants": (
        "SELECT tenant_id, sum(cost_usd) AS cost, countIf(cost_usd IS NULL), count() AS calls,"
        " sum(input_tokens + output_tokens) FROM llmcost.llm_usage WHERE {where} GROUP BY tenant_id"
        " ORDER BY cost DESC NULLS LAST, calls DESC LIMIT 20",
        "SELECT tenant_id, sum(cost_usd) AS cost, sum(unpriced_calls), sum(calls) AS c,"
        " sum(input_tokens) + sum(output_tokens) FROM llmcost.usage_hourly WHERE {where} GROUP BY tenant_id"
        " ORDER BY cost DESC, c DESC LIMIT 20"),
    "cost by model": (
        "SELECT provider, request_model, sum(cost_usd) AS cost, countIf(cost_usd IS NULL), count() AS calls"
        " FROM llmcost.llm_usage WHERE {where} GROUP BY provider, request_model ORDER BY cost DESC",
        "SELECT provider, request_model, sum(cost_usd) AS cost, sum(unpriced_calls), sum(calls)"
        " FROM llmcost.usage_hourly WHERE {where} GROUP BY provider, request_model ORDER BY cost DESC"),
    "features with requests": (
        "SELECT feature, sum(cost_usd) AS cost, count() AS calls, uniqExact(tenant_id, request_id),"
        " countIf(status = 'error'), countIf(attempt > 1), avg(latency_ms) FROM llmcost.llm_usage"
        " WHERE {where} GROUP BY feature ORDER BY cost DESC",
        "SELECT feature, cost, n_calls, requests, failed, retries, latency FROM (SELECT feature,"
        " sum(cost_usd) AS cost, sum(calls) AS n_calls, sum(failed_calls) AS failed, sum(retry_calls) AS retries,"
        " sum(latency_ms_sum) / sum(calls) AS latency FROM llmcost.usage_hourly WHERE {where} GROUP BY feature) AS a"
        " LEFT JOIN (SELECT feature, uniqExactMerge(requests) AS requests FROM llmcost.request_counts_hourly"
        " WHERE {where} GROUP BY feature) AS b USING feature ORDER BY cost DESC"),
    "latency p95 by model": (
        "SELECT request_model, quantileTDigest(0.95)(latency_ms) FROM llmcost.llm_usage WHERE {where}"
        " GROUP BY request_model",
        "SELECT request_model, quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[2]"
        " FROM llmcost.usage_hourly WHERE {where} GROUP BY request_model"),
    # as the drill-down's list: the newest 500 requests by their last call, reading the newest hours only
    "request list": (
        "SELECT request_id, tenant_id, max(ts) AS last, count(), countIf(status = 'error'), sum(cost_usd),"
        " sum(input_tokens), sum(output_tokens), max(latency_ms) FROM llmcost.llm_usage"
        " WHERE {where} GROUP BY tenant_id, request_id ORDER BY last DESC LIMIT 500",
        "WITH (SELECT min(hour) FROM (SELECT hour, sum(sum(calls)) OVER (ORDER BY hour DESC) - sum(calls) AS newer"
        f" FROM llmcost.usage_hourly WHERE {{where}} GROUP BY hour) WHERE newer < {LIST_CALLS}) AS list_since"
        " SELECT request_id, tenant_id, max(last_ts) AS last, sum(calls), sum(failed_calls), sum(cost_usd),"
        " sum(input_tokens), sum(output_tokens), max(max_latency_ms) FROM llmcost.requests"
        f" WHERE {{where}} AND hour >= list_since - {LIST_LOOKBACK} AND (tenant_id, request_id) IN"
        " (SELECT tenant_id, request_id FROM llmcost.requests WHERE {where} AND hour >= list_since)"
        " GROUP BY tenant_id, request_id ORDER BY last DESC LIMIT 500"),
}

RAW_STATS = """
SELECT {group} AS g, uniqExact(tenant_id, request_id), count(), countIf(status = 'error'), sum(input_tokens),
    sum(output_tokens), sum(cost_usd), countIf(llm_usage.cost_usd IS NULL), avg(latency_ms)
FROM llmcost.llm_usage WHERE ts >= {{since:DateTime64(6, 'UTC')}} AND ts < {{until:DateTime64(6, 'UTC')}} {where}
GROUP BY g
"""
_RAW_GROUPS = {None: "'all'", "feature": "feature", "model": "request_model"}


def pairs(since: datetime, until: datetime, interval_s: int, tenant: str | None) -> list[Pair]:
    """The panel pairs over since..until (buckets of interval_s) and the `stats` queries over the same range,
    for one tenant or all (None)."""
    tenant_only = " AND tenant_id = {tenant:String}" if tenant else ""
    params = {"since": since.strftime("%Y-%m-%d %H:%M:%S"), "until": until.strftime("%Y-%m-%d %H:%M:%S"),
              "interval": str(interval_s), "tenant": tenant or ""}
    found = [Pair(f"panel: {name}", (raw.replace("{where}", _RAW + tenant_only), params),
                  [(rolled.replace("{where}", _HOURS + tenant_only), params)], None)
             for name, (raw, rolled) in PANELS.items()]
    window = {"since": since.strftime("%Y-%m-%d %H:%M:%S.%f"), "until": until.strftime("%Y-%m-%d %H:%M:%S.%f"),
              "tenant": tenant or ""}
    for by, group in _RAW_GROUPS.items():
        query = StatsQuery(by, {"tenant": tenant} if tenant else {})
        # As stats_rows() runs them: the totals, then the request counts.
        rolled = [(query.totals_sql("llmcost"), query.totals_params(since, until)),
                  (query.requests_sql("llmcost"), query.requests_params(since, until))]
        found.append(Pair(f"stats --by {by or 'total'}",
                          (RAW_STATS.format(group=group, where=tenant_only), window), rolled, 100))
    return found
