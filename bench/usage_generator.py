"""Realistic llm_usage rows for bench/query_speed.py, made inside chDB by INSERT ... SELECT FROM numbers().

Two shapes (--shape). skewed: 50 tenants and 12 features with skewed popularity, each feature in one of 6
services with a main model (of 8, 3 providers) and two fallbacks (20%), 100 users per tenant (a user belongs to
one tenant). even (issue 21): 200 tenants, 12 features, 6 chat models and 5,000 users (25 per tenant), each
uniform and independent of the others, so the hourly rollups hold almost as many rows as the raw table. Both:
staging traffic for two tenants only, ~2 calls per request, 3% failures, 5% retries, 1% unpriced. Spans
(otel_traces) for the last day only.

Two ways in. Through the views (generate(fast=False)): the materialized views fill every rollup from these
inserts as they do for the receiver's (64 min for 100M even rows). Fast (fast=True): the rows go into a staging
table of llm_usage's structure that no view reads, its partitions are attached to llm_usage (views do not fire
on ATTACH PARTITION ... FROM), and the rollups are filled by the product's own backfill
(otel_llmcost.store.rollups.rebuild, as migrations and reprice do), one monthly partition at a time.
tests/test_usage_generator.py checks both ways make the same rollups.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone

import chdb

from otel_llmcost.store.chdb_store import ChdbStore, param_text
from otel_llmcost.store.rollups import ROLLUPS, rebuild

CHUNK = 2_000_000  # rows per INSERT ... SELECT
#: (provider, model, pico-USD per input token, per output token)
MODELS = ("[('openai','gpt-4o',2500000,10000000),('openai','gpt-4o-mini',150000,600000),"
          "('openai','o3',2000000,8000000),('anthropic','claude-sonnet-4',3000000,15000000),"
          "('anthropic','claude-haiku-3.5',800000,4000000),('google','gemini-2.5-pro',1250000,10000000),"
          "('google','gemini-2.5-flash',300000,2500000),('openai','text-embedding-3-small',20000,0)]")

GENERATE = """
INSERT INTO llmcost.{table} (ts, tenant_id, environment, service_name, feature, user_id, session_id, request_id,
    attempt, trace_id, span_id, span_name, provider, operation, request_model, response_model, input_tokens,
    cache_read_tokens, output_tokens, reasoning_tokens, input_cost_usd, cache_read_cost_usd, output_cost_usd, cost_usd,
    cost_status, price_book_version, status, error_type, latency_ms, ttft_ms, streaming, ingested_at, project,
    api_key_id)
SELECT ts, tenant_id, if(tenant_id IN ('tenant-0', 'tenant-1') AND r % 4 = 0, 'staging', 'prod'),
    concat('svc-', toString(feature_number % 6)), concat('feature-', toString(feature_number)),
    concat(tenant_id, '-user-', toString(user_number)), concat('s-', toString(intDiv(n, 8))), request_id, attempt,
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
        {tenant} AS tenant_id, {feature} AS feature_number, {user} AS user_number,
        lower(hex(r)) AS request_id, if(h % 20 = 0, 2, 1) AS attempt,
        {model} AS model,
        200 + (h % 6000) AS input_tokens, if(h % 3 = 0, (h % 2000), 0) AS cache_read_tokens,
        20 + (h % 900) AS output_tokens
    FROM numbers({first:UInt64}, {count:UInt64})
)
"""

#: shape -> the expressions of tenant_id, feature_number, user_number (within its tenant) and model, over
#: n (the call), h (its hash) and r (its request's hash). A request's calls share tenant, feature and user.
SHAPES = {
    "skewed": {
        "tenant": "concat('tenant-', toString(toUInt32(pow((r % 1000003) / 1000003, 3) * 50)))",
        "feature": "toUInt32(pow((intHash32(r) % 10007) / 10007, 2) * 12)",
        "user": "r % 100",
        # a main model per feature, 20% fallbacks
        "model": "arrayElement({models}, 1 + (feature_number + if(h % 5 = 0, 1 + h % 2, 0)) % 8)",
    },
    "even": {  # 200 tenants x 25 users = 5,000 users; models: the 6 chat models but o3
        "tenant": "concat('tenant-', toString(r % 200))",
        "feature": "intHash32(r) % 12",
        "user": "intDiv(r, 200) % 25",
        "model": "arrayElement({models}, [1, 2, 4, 5, 6, 7][1 + cityHash64(n, 'model') % 6])",
    },
}
STAGING = "llm_usage_staging"  # the fast path's raw rows before they join llm_usage: no view reads it


def generate(conn, rows: int, days: int, end: datetime, shape: str = "skewed", fast: bool = False) -> float:
    """Insert `rows` calls of `shape` spread over the `days` before `end`; returns the seconds it took.
    fast: into a staging table, attached to llm_usage, and the rollups rebuilt (see the module's text)."""
    began = time.perf_counter()
    if fast:
        conn.query(f"DROP TABLE IF EXISTS llmcost.{STAGING}")
        conn.query(f"CREATE TABLE llmcost.{STAGING} AS llmcost.llm_usage")
    for first in range(0, rows, CHUNK):
        insert_calls(conn, STAGING if fast else "llm_usage", shape, end, days * 86400, rows, first,
                     min(CHUNK, rows - first))
        print(f"  generated {min(first + CHUNK, rows):,} rows ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    if fast:
        attach_and_rebuild(conn, began)
    return time.perf_counter() - began


def insert_calls(conn, table: str, shape: str, end: datetime, seconds: int, rows: int, first: int, count: int) -> None:
    """Calls number first .. first + count of `rows` spread over the `seconds` before `end`, into llmcost.table."""
    sql = GENERATE
    for name, expression in SHAPES[shape].items():
        sql = sql.replace("{" + name + "}", expression)
    sql = sql.replace("{models}", MODELS).replace("{table}", table)
    conn.query(sql, "CSV", params={"end_us": str(int(end.timestamp() * 1e6)), "span_us": str(seconds * 10**6),
                                   "rows": str(rows), "first": str(first), "count": str(count)})


class _Store:
    """The SchemaStore face rollups.rebuild() needs, over the bench's own chDB connection (one per process)."""

    database = "llmcost"

    def __init__(self, conn):
        self._conn = conn

    def command(self, sql: str, params: dict | None = None, /) -> None:
        self._conn.query(sql, "CSV", params={k: param_text(v) for k, v in (params or {}).items()} or None)

    def query(self, sql: str, params: dict | None = None, /) -> list[dict]:
        text = self._conn.query(sql, "JSONEachRow", params={k: param_text(v) for k, v in (params or {}).items()}
                                or None).bytes().decode()
        return [json.loads(line) for line in text.splitlines() if line]


def attach_and_rebuild(conn, began: float) -> None:
    """The staging table's partitions into llm_usage (hard links; no view fires), then every rollup rebuilt
    from them by the product's backfill, a month at a time. Its GROUP BYs spill to disk beyond 2 GB, and
    aggregate in llm_usage's order where the key starts as its sort key does, so a month of 80M calls fits."""
    store = _Store(conn)
    partitions = [row["p"] for row in
                  store.query(f"SELECT DISTINCT _partition_id AS p FROM llmcost.{STAGING} ORDER BY p")]
    for partition in partitions:
        conn.query(f"ALTER TABLE llmcost.llm_usage ATTACH PARTITION ID '{partition}' FROM llmcost.{STAGING}")
    conn.query(f"DROP TABLE llmcost.{STAGING}")
    print(f"  attached partitions {', '.join(partitions)} ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    conn.query("SET max_bytes_before_external_group_by = 2000000000, optimize_aggregation_in_order = 1")
    for rollup in ROLLUPS:
        for partition in partitions:
            rebuild(store, [partition], (rollup,))
        print(f"  rebuilt {rollup.table} ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    conn.query("SET max_bytes_before_external_group_by = 0, optimize_aggregation_in_order = 0")


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


def build(path: str, rows: int, days: int, shape: str, fast: bool = True) -> tuple[object, datetime]:
    """A store at `path` with main's schema and `rows` generated calls ending this hour (or the rows it holds),
    and spans of its last day; the open connection and the data's end (the hour after its newest row)."""
    store = ChdbStore(path, "llmcost")
    store.ensure_schema()  # a reused store gets the migrations added since it was made
    existing = store.query("SELECT count() AS n, toString(max(ts)) AS last FROM llmcost.llm_usage")[0]
    store.close()
    conn = chdb.connect(path)
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    if existing["n"] == 0:
        took = generate(conn, rows, days, end, shape, fast)
        print(f"generation of {rows:,} {shape} rows over {days} days{' (fast)' if fast else ''}: {took:.0f} s")
    else:
        newest = datetime.fromisoformat(existing["last"]).replace(tzinfo=timezone.utc) - timedelta(microseconds=1)
        end = newest.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)  # the hour generate() ended on
        print(f"reusing {existing['n']:,} rows in {path}")
    print(f"spans of the last day's traces: {add_spans(conn, end):.0f} s")
    return conn, end


def main() -> int:
    parser = argparse.ArgumentParser(description="Build a bench store: generated calls, rollups and spans.")
    parser.add_argument("data_dir")
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="skewed")
    parser.add_argument("--through-views", action="store_true", help="insert through the materialized views")
    args = parser.parse_args()
    began = time.perf_counter()
    conn, _ = build(args.data_dir, args.rows, args.days, args.shape, fast=not args.through_views)
    conn.close()
    print(f"store {args.data_dir} built in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
