"""Realistic llm_usage rows for bench/query_speed.py, made inside chDB by INSERT ... SELECT FROM numbers().

The materialized views fill every rollup from these inserts as they do for the receiver's. Shape: 50 tenants
and 12 features with skewed popularity, each feature in one of 6 services with a main model (of 8, 3
providers) and two fallbacks (20%), staging traffic for two tenants only, ~2 calls per request, 3% failures,
5% retries, 1% unpriced, 100 users per tenant (a user belongs to one tenant). Spans (otel_traces) for the
last day only.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta

CHUNK = 2_000_000  # rows per INSERT ... SELECT
#: (provider, model, pico-USD per input token, per output token)
MODELS = ("[('openai','gpt-4o',2500000,10000000),('openai','gpt-4o-mini',150000,600000),"
          "('openai','o3',2000000,8000000),('anthropic','claude-sonnet-4',3000000,15000000),"
          "('anthropic','claude-haiku-3.5',800000,4000000),('google','gemini-2.5-pro',1250000,10000000),"
          "('google','gemini-2.5-flash',300000,2500000),('openai','text-embedding-3-small',20000,0)]")

GENERATE = """
INSERT INTO llmcost.llm_usage (ts, tenant_id, environment, service_name, feature, user_id, session_id, request_id,
    attempt, trace_id, span_id, span_name, provider, operation, request_model, response_model, input_tokens,
    cache_read_tokens, output_tokens, reasoning_tokens, input_cost_usd, cache_read_cost_usd, output_cost_usd, cost_usd,
    cost_status, price_book_version, status, error_type, latency_ms, ttft_ms, streaming, ingested_at, project,
    api_key_id)
SELECT ts, tenant_id, if(tenant_id IN ('tenant-0', 'tenant-1') AND r % 4 = 0, 'staging', 'prod'),
    concat('svc-', toString(feature_number % 6)), concat('feature-', toString(feature_number)),
    concat(tenant_id, '-user-', toString(r % 100)), concat('s-', toString(intDiv(n, 8))), request_id, attempt,
    lower(hex(cityHash64(intDiv(n, 2), 'trace'))) || lower(hex(cityHash64(intDiv(n, 2), 't2'))),
    lower(hex(cityHash64(n, 'span'))), concat('chat ', model.2), model.1, 'chat', model.2, model.2,
    input_tokens, cache_read_tokens, output_tokens, intDiv(output_tokens, 5),
    toDecimal128(input_tokens * model.3, 12) / 1000000000000,
    toDecimal128(cache_read_tokens * intDiv(model.3, 10), 12) / 1000000000000,
    toDecimal128(output_tokens * model.4, 12) / 1000000000000,
    if(h % 97 = 0, NULL, toDecimal128((input_tokens * model.3) + cache_read_tokens * intDiv(model.3, 10)
                                      + output_tokens * model.4, 12) / 1000000000000),
    if(h % 97 = 0, 'unpriced', if(h % 41 = 0, 'estimated', 'priced')), 'bench', if(h % 33 = 0, 'error', 'ok'),
    if(h % 33 = 0, 'rate_limit', ''), 200 + (h % 5000) * 1.7, if(h % 2 = 0, 80 + (h % 700), NULL), h % 2 = 0, ts,
    concat('project-', toString(feature_number % 4)), concat(tenant_id, '-key-', toString(r % 3))
FROM (
    SELECT number AS n, cityHash64(number) AS h, cityHash64(intDiv(number, 2), 'request') AS r,  -- r: per request
        fromUnixTimestamp64Micro(toInt64({end_us:Int64} - n * ({span_us:Int64} / {rows:UInt64})
            - (h % 60) * 1000000), 'UTC') AS ts,
        concat('tenant-', toString(toUInt32(pow((r % 1000003) / 1000003, 3) * 50))) AS tenant_id,
        toUInt32(pow((intHash32(r) % 10007) / 10007, 2) * 12) AS feature_number,
        lower(hex(r)) AS request_id, if(h % 20 = 0, 2, 1) AS attempt,
        -- a main model per feature, 20% fallbacks
        arrayElement({models}, 1 + (feature_number + if(h % 5 = 0, 1 + h % 2, 0)) % 8) AS model,
        200 + (h % 6000) AS input_tokens, if(h % 3 = 0, (h % 2000), 0) AS cache_read_tokens,
        20 + (h % 900) AS output_tokens
    FROM numbers({first:UInt64}, {count:UInt64})
)
"""


def generate(conn, rows: int, days: int, end: datetime) -> float:
    """Insert `rows` calls spread over the `days` before `end`; returns the seconds it took."""
    began = time.perf_counter()
    sql = GENERATE.replace("{models}", MODELS)
    for first in range(0, rows, CHUNK):
        conn.query(sql, "CSV", params={"end_us": str(int(end.timestamp() * 1e6)), "span_us": str(days * 86400 * 10**6),
                                       "rows": str(rows), "first": str(first), "count": str(min(CHUNK, rows - first))})
        print(f"  generated {min(first + CHUNK, rows):,} rows ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    return time.perf_counter() - began


def scalar(conn, sql: str, **params: str) -> str:
    return conn.query(sql, "TabSeparated", params=params).bytes().decode().strip()


def busiest_tenant(conn) -> str:
    return scalar(conn, "SELECT tenant_id FROM llmcost.usage_daily GROUP BY tenant_id ORDER BY sum(calls) DESC LIMIT 1")


def newest_request(conn, tenant: str) -> dict[str, str]:
    """request_id and trace_id of the tenant's newest request of its busiest feature: what the drill-down's
    textboxes hold after a click in its request list."""
    feature = scalar(conn, "SELECT feature FROM llmcost.usage_daily WHERE tenant_id = {tenant:String}"
                           " GROUP BY feature ORDER BY sum(calls) DESC LIMIT 1", tenant=tenant)
    request_id, hour = scalar(conn, "SELECT request_id, hour FROM llmcost.requests WHERE tenant_id = {tenant:String}"
                                    " AND feature = {feature:String} ORDER BY last_ts DESC LIMIT 1",
                              tenant=tenant, feature=feature).split("\t")
    trace_id = scalar(conn, "SELECT trace_id FROM llmcost.llm_usage WHERE tenant_id = {tenant:String}"
                            " AND toStartOfHour(ts) = {hour:DateTime('UTC')} AND request_id = {request_id:String}"
                            " ORDER BY ts DESC LIMIT 1", tenant=tenant, hour=hour, request_id=request_id)
    return {"request_id": request_id, "trace_id": trace_id}


#: The traces of the last day's calls, made from llm_usage: a root span per trace (the app's request), one
#: client span per call. Spans for one day only: the trace view opens recent requests (traces keep less than
#: usage rows), and at 100 million rows a day is ~3 million calls.
SPANS = """
INSERT INTO llmcost.otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    ResourceAttributes, SpanAttributes, Duration, StatusCode)
SELECT ts, trace_id, span_id, substring(lower(hex(cityHash64(trace_id, 'root'))), 1, 16), span_name,
    'SPAN_KIND_CLIENT', service_name, map('service.name', service_name, 'deployment.environment', environment),
    map('gen_ai.system', provider, 'gen_ai.operation.name', operation, 'gen_ai.request.model', request_model,
        'gen_ai.usage.input_tokens', toString(input_tokens), 'gen_ai.usage.output_tokens', toString(output_tokens),
        'llm.request_id', request_id, 'llm.tenant_id', tenant_id, 'llm.feature', feature),
    toUInt64(latency_ms * 1000000), if(status = 'error', 'STATUS_CODE_ERROR', 'STATUS_CODE_UNSET')
FROM llmcost.llm_usage WHERE ts >= {since:DateTime('UTC')}
UNION ALL
SELECT min(ts) - INTERVAL 5 MILLISECOND, trace_id, substring(lower(hex(cityHash64(trace_id, 'root'))), 1, 16), '',
    concat('POST /', any(feature)), 'SPAN_KIND_SERVER', any(service_name), map('service.name', any(service_name)),
    map('http.route', concat('/', any(feature))),
    toUInt64((dateDiff('millisecond', min(ts), max(ts)) + max(latency_ms) + 10) * 1000000), 'STATUS_CODE_UNSET'
FROM llmcost.llm_usage WHERE ts >= {since:DateTime('UTC')} GROUP BY trace_id
"""


def add_spans(conn, end: datetime) -> float:
    """Spans for the traces of the day before `end`, unless otel_traces holds some; returns the seconds taken."""
    began = time.perf_counter()
    if scalar(conn, "SELECT count() FROM llmcost.otel_traces") == "0":
        conn.query(SPANS, "CSV", params={"since": (end - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")})
    return time.perf_counter() - began
