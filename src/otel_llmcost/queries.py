"""Every SQL query the code runs against llm_usage (the DDL lives in clickhouse/*.sql).

Identifiers ({database}, a group-by expression from a fixed list) are formatted in; values are always
ClickHouse query parameters ({name:Type}), which both chDB and clickhouse-driver bind server-side.
"""

from __future__ import annotations

STORED_SPANS = """
SELECT trace_id, span_id FROM {database}.llm_usage WHERE trace_id IN {{trace_ids:Array(String)}}
"""

#: `otel-llmcost stats --by ...` -> the grouping expression.
STATS_GROUPS = {
    None: "'all'",
    "model": "if(response_model != '', response_model, request_model)",
    "provider": "provider",
    "tenant": "tenant_id",
    "feature": "feature",
}

STATS = """
SELECT
    {group} AS group,
    uniqExact(request_id) AS requests,
    count() AS calls,
    countIf(status = 'error') AS failures,
    sum(input_tokens) AS input_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(output_tokens) AS output_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    countIf(llm_usage.cost_usd IS NULL) AS unpriced_calls,  -- qualified: `cost_usd` alone is the sum's alias
    round(avg(latency_ms), 3) AS avg_latency_ms
FROM {database}.llm_usage
WHERE ts >= {{since:DateTime64(6, 'UTC')}} AND ts < {{until:DateTime64(6, 'UTC')}}
GROUP BY group
ORDER BY cost_usd DESC NULLS LAST, calls DESC, group
"""


def stored_spans(database: str) -> str:
    return STORED_SPANS.format(database=database)


def stats(database: str, by: str | None) -> str:
    return STATS.format(database=database, group=STATS_GROUPS[by])
