"""Feature drill-down: feature ranking -> requests of a feature -> one request's attempts -> its trace."""

from __future__ import annotations

from scripts.dashboards.panels import CLICKED, ROW_TENANT, Layout, dashboard, link, panel, units
from scripts.dashboards.sql import DB, REQUEST_HOURS, cond, facts, raw_calls, request_counts, requests_by

#: Rows of the ranking: the (tenant, feature) pairs with the most spend (over all tenants there are thousands).
RANKED = 100
RANKED_COLUMNS = ("tenant_id", "feature", "cost_usd", "calls", "input_tokens", "cache_read_tokens",
                  "cache_write_tokens", "output_tokens", "reasoning_tokens", "latency_ms_sum", "retry_calls",
                  "failed_calls")
_RANKED = ("tenant_id", "feature", "cost", "calls", "uncached_input", "cache_read", "cache_write", "output",
           "reasoning", "avg_latency_ms", "retries", "failed_calls", "cache_hit_rate")
_OF_RANKED = "(tenant_id, feature) IN (SELECT r.1, r.2 FROM (SELECT arrayJoin(ranked_rows) AS r))"
#: The ranked pairs once, as a constant (a CTE runs again wherever it is named); their requests from the sketches
#: of those pairs only (the condition reaches every source of the counts, so no other pair's sketch is read).
FEATURE_RANKING = f"""
WITH {facts(by_day=True, by_tenant=True, keep=RANKED_COLUMNS)},
{request_counts(by="tenant", only=_OF_RANKED)},
(SELECT groupArray(({", ".join(_RANKED)})) FROM (
  SELECT tenant_id, feature, sum(cost_usd) AS cost, sum(calls) AS calls,
    sum(input_tokens) - sum(cache_read_tokens) - sum(cache_write_tokens) AS uncached_input,
    sum(cache_read_tokens) AS cache_read, sum(cache_write_tokens) AS cache_write, sum(output_tokens) AS output,
    sum(reasoning_tokens) AS reasoning, round(sum(latency_ms_sum) / calls, 1) AS avg_latency_ms,
    sum(retry_calls) AS retries, sum(failed_calls) AS failed_calls,
    round(sum(cache_read_tokens) / nullIf(sum(input_tokens), 0), 4) AS cache_hit_rate
  FROM facts
  GROUP BY tenant_id, feature
  ORDER BY cost DESC, calls DESC LIMIT {RANKED})) AS ranked_rows,
ranked AS (
  SELECT {", ".join(f"r.{n} AS {name}" for n, name in enumerate(_RANKED, 1))}
  FROM (SELECT arrayJoin(ranked_rows) AS r)
)
SELECT tenant_id, feature, cost, calls, r.requests AS requests, uncached_input, cache_read, cache_write, output,
  reasoning, avg_latency_ms, retries, failed_calls, cache_hit_rate
FROM ranked
LEFT JOIN (SELECT tenant_id, feature, sum(requests) AS requests FROM (
  {requests_by("tenant_id, feature")})
  GROUP BY tenant_id, feature) AS r USING (tenant_id, feature)
ORDER BY cost DESC, calls DESC
"""

#: The list holds the requests with a call in the newest hours of the range that hold this many calls (at
#: least 500 requests unless they average over 10 calls), so it reads those hours, not the whole range.
LIST_CALLS = 5000
#: A listed request's calls are summed from this long before those hours (a longer request shows less).
LIST_LOOKBACK = "INTERVAL 3 HOUR"
#: From raw calls: those hours of every tenant are a few granules of llm_usage's projection sorted by time (the
#: requests table, sorted by tenant first, costs a granule per tenant for them); one tenant's, of its own rows.
REQUESTS_OF_FEATURE = f"""
WITH {facts(keep=("calls",))},
(SELECT min(t) FROM (SELECT t, sum(sum(calls)) OVER (ORDER BY t DESC) - sum(calls) AS newer_calls
  FROM facts GROUP BY t) WHERE newer_calls < {LIST_CALLS}) AS list_since,
listed AS (  -- no DISTINCT (the IN set is one): DISTINCT reads in the primary key's order, never the projection
  SELECT u.tenant_id, u.request_id FROM {DB}.llm_usage AS u
  WHERE {raw_calls(prefix="u.")} AND u.ts >= list_since
),
reqs AS (
  SELECT u.tenant_id AS tenant_id, u.request_id AS request_id, min(u.ts) AS first_ts, max(u.ts) AS last_ts,
    any(u.user_id) AS user_id, count() AS calls, max(u.attempt) AS attempts,
    countIf(u.status = 'error') AS failed_calls, countIf(u.attempt > 1) AS retry_calls,
    argMax(u.status, u.ts) AS last_status, sum(u.input_tokens) AS input_tokens,
    sum(u.cache_read_tokens) AS cache_read_tokens, sum(u.output_tokens) AS output_tokens,
    sum(ifNull(u.cost_usd, toDecimal128(0, 12))) AS cost_usd, countIf(u.cost_status = 'unpriced') AS unpriced_calls,
    max(u.latency_ms) AS slowest_call_ms
  FROM {DB}.llm_usage AS u
  WHERE u.ts >= list_since - {LIST_LOOKBACK} AND u.ts <= $__toTime AND (u.tenant_id, u.request_id) IN listed
  GROUP BY tenant_id, request_id
  HAVING first_ts >= $__fromTime
)
SELECT first_ts, tenant_id, request_id, user_id, calls, attempts, failed_calls, retry_calls AS retries,
  last_status, input_tokens, cache_read_tokens, output_tokens, cost_usd AS cost, unpriced_calls, slowest_call_ms,
  last_ts
FROM reqs
ORDER BY last_ts DESC, tenant_id, request_id
LIMIT 500
"""

#: The seed's request detail: one summary row, then one row per attempt with its share of the cost.
REQUEST_DETAIL = f"""
WITH
summary AS (
  SELECT q.tenant_id AS tenant_id, q.request_id AS request_id, min(q.first_ts) AS first_seen,
    max(q.last_ts) AS last_seen, max(q.attempts) AS attempts, sum(q.calls) AS calls, sum(q.retry_calls) AS retries,
    sum(q.input_tokens) AS input_tokens, sum(q.output_tokens) AS output_tokens, sum(q.cost_usd) AS cost_usd
  FROM {DB}.requests AS q
  WHERE q.request_id = ${{request_id:singlequote}} AND {cond('q.tenant_id', 'tenant')} AND {REQUEST_HOURS}
  GROUP BY q.tenant_id, q.request_id
),
attempts AS (
  SELECT tenant_id, request_id, ts, attempt, provider, request_model, status, error_type, latency_ms,
    input_tokens, output_tokens, cost_usd, trace_id
  FROM {DB}.llm_usage
  WHERE request_id = ${{request_id:singlequote}} AND {cond('tenant_id', 'tenant')} AND $__timeFilter(ts)
)
SELECT * FROM (
SELECT 0 AS sort_key, 'request' AS row_type, tenant_id, request_id, first_seen, last_seen, attempts, retries,
  input_tokens, output_tokens, cost_usd,
  round(input_tokens / nullIf(input_tokens + output_tokens, 0), 4) AS prompt_share,
  CAST(NULL, 'Nullable(Float64)') AS cost_share, CAST(NULL, 'Nullable(UInt16)') AS attempt, '' AS provider,
  '' AS model, '' AS status, '' AS error_type, CAST(NULL, 'Nullable(Float64)') AS latency_ms, '' AS trace_id
FROM summary
UNION ALL
SELECT 1, 'attempt', a.tenant_id, a.request_id, a.ts, NULL, NULL, NULL, a.input_tokens, a.output_tokens, a.cost_usd,
  NULL, if(s.cost_usd = 0, 0, toFloat64(a.cost_usd) / toFloat64(s.cost_usd)), a.attempt, a.provider,
  a.request_model, a.status, a.error_type, a.latency_ms, a.trace_id
FROM attempts AS a INNER JOIN summary AS s USING (tenant_id, request_id)
)
ORDER BY sort_key, first_seen, attempt
"""

#: Grafana's trace view (format 3) over the Collector-shaped span table, by trace id (the lookup table first).
TRACE = f"""
WITH ${{trace_id:singlequote}} AS wanted,
  (SELECT min(Start) FROM {DB}.otel_traces_trace_id_ts WHERE TraceId = wanted) AS trace_start,
  (SELECT max(End) + 1 FROM {DB}.otel_traces_trace_id_ts WHERE TraceId = wanted) AS trace_end
SELECT TraceId AS traceID, SpanId AS spanID, ParentSpanId AS parentSpanID, ServiceName AS serviceName,
  SpanName AS operationName, Timestamp AS startTime, Duration / 1000000 AS duration,
  arrayMap(key -> map('key', key, 'value', SpanAttributes[key]), mapKeys(SpanAttributes)) AS tags,
  arrayMap(key -> map('key', key, 'value', ResourceAttributes[key]), mapKeys(ResourceAttributes)) AS serviceTags,
  if(StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 2, 0) AS statusCode, SpanKind AS kind, StatusMessage AS statusMessage
FROM {DB}.otel_traces
WHERE TraceId = wanted AND Timestamp >= trace_start AND Timestamp <= trace_end AND $__timeFilter(Timestamp)
  AND $__conditionalAll(wanted IN (SELECT trace_id FROM {DB}.llm_usage WHERE trace_id = wanted AND $__timeFilter(ts)
    AND tenant_id IN (${{tenant:singlequote}})), $tenant)
ORDER BY startTime
"""


def build() -> dict:
    usd = "currencyUSD"
    layout = Layout()
    layout.add(panel("table", "Feature ranking", FEATURE_RANKING, f"The {RANKED} features with the most spend, per "
                     "tenant: calls, requests (≈: a HyperLogLog estimate, about 1.6 % off at most counts, exact for "
                     "small ones, unless a variable but tenant and feature is picked), tokens by kind, latency, "
                     "retries and cache hits. Click a feature for its requests.",
                     overrides=units(cost=usd, avg_latency_ms="ms", cache_hit_rate="percentunit")
                     + [link("feature", "Requests of ${__value.raw}", "llmcost-drilldown", feature=CLICKED,
                             tenant=ROW_TENANT)]), 24, 8)
    layout.add(panel("table", "Requests of feature ${feature}", REQUESTS_OF_FEATURE, "The newest 500 requests "
                     "of the range, by their last call (sort any column). Click a request id for its attempts.",
                     overrides=units(cost=usd, slowest_call_ms="ms") + [
                         link("request_id", "Request ${__value.raw}", "llmcost-drilldown", request_id=CLICKED,
                              tenant=ROW_TENANT, feature="${feature:queryparam}")]), 24, 9)
    layout.add(panel("table", "Request ${request_id}", REQUEST_DETAIL, "The request (first and last seen, attempts, "
                     "retries, tokens, total cost, prompt share), then each attempt with its share of the cost. "
                     "Click a trace id for the trace.", overrides=units(cost_usd=usd, cost_share="percentunit",
                                                                       prompt_share="percentunit", latency_ms="ms")
                     + [link("trace_id", "Trace ${__value.raw}", "llmcost-drilldown", trace_id=CLICKED,
                             request_id="${request_id:queryparam}", tenant=ROW_TENANT)]), 24, 9)
    layout.add(panel("traces", "Trace ${trace_id}", TRACE, "Every stored span of the request's trace: the app's "
                     "spans, LLM calls, tools and retries."), 24, 12)
    return dashboard("llmcost-drilldown", "LLM cost: feature drill-down", "Feature -> requests -> attempts -> "
                     "trace. Ranking from the hourly rollup and the requests table; single calls from raw rows.",
                     layout, textboxes=("request_id", "trace_id"))
