#!/usr/bin/env python
"""Query speed: dashboard panels and `stats` on the rollups vs on raw rows, at N rows of realistic traffic.

    python bench/query_speed.py [--rows N] [--days D] [--repeat R] [--raw-repeat R] [--data-dir DIR]

Generates N calls (default 100 million) over D days into llm_usage with INSERT ... SELECT FROM numbers(),
so the materialized views fill usage_hourly, usage_daily and requests as they do for the receiver. Shape:
50 tenants and 12 features with skewed popularity, each feature in one of 6 services with a main model
(of 8, 3 providers) and two fallbacks (20%), staging traffic for two tenants only, ~2 calls per request,
3% failures, 5% retries, 1% unpriced, 5,000 users. Then times each query (24 h, 7 d, 30 d; tenant All
and the busiest tenant): median ms of R runs, rows read, the raw/rollup ratio, and each table's disk size.
Dashboard queries: the panels of grafana/dashboards/*.json with Grafana's macros expanded, next to the same
panel written on the rollups. Prints figures only; targets (issue 9): overview < 100 ms, lists < 300 ms.
"""

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

import chdb  # directly, for each query's rows read (storage_rows_read)

from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.usage_stats import StatsQuery

CHUNK = 2_000_000  # rows per INSERT ... SELECT
MODELS = "[('openai','gpt-4o',2500000,10000000),('openai','gpt-4o-mini',150000,600000),('openai','o3',2000000,8000000)," \
         "('anthropic','claude-sonnet-4',3000000,15000000),('anthropic','claude-haiku-3.5',800000,4000000)," \
         "('google','gemini-2.5-pro',1250000,10000000),('google','gemini-2.5-flash',300000,2500000)," \
         "('openai','text-embedding-3-small',20000,0)]"  # (provider, model, pico-USD per input / output token)

GENERATE = """
INSERT INTO llmcost.llm_usage (ts, tenant_id, environment, service_name, feature, user_id, session_id, request_id,
    attempt, trace_id, span_id, span_name, provider, operation, request_model, response_model, input_tokens,
    cache_read_tokens, output_tokens, reasoning_tokens, input_cost_usd, cache_read_cost_usd, output_cost_usd, cost_usd,
    cost_status, price_book_version, status, error_type, latency_ms, ttft_ms, streaming, ingested_at)
SELECT ts, tenant_id, if(tenant_id IN ('tenant-0', 'tenant-1') AND r % 4 = 0, 'staging', 'prod'),
    concat('svc-', toString(feature_number % 6)), concat('feature-', toString(feature_number)),
    concat('user-', toString(r % 5000)), concat('s-', toString(intDiv(n, 8))), request_id, attempt,
    lower(hex(cityHash64(intDiv(n, 2), 'trace'))) || lower(hex(cityHash64(intDiv(n, 2), 't2'))),
    lower(hex(cityHash64(n, 'span'))), concat('chat ', model.2), model.1, 'chat', model.2, model.2,
    input_tokens, cache_read_tokens, output_tokens, intDiv(output_tokens, 5),
    toDecimal128(input_tokens * model.3, 12) / 1000000000000, toDecimal128(cache_read_tokens * intDiv(model.3, 10), 12) / 1000000000000,
    toDecimal128(output_tokens * model.4, 12) / 1000000000000,
    if(h % 97 = 0, NULL, toDecimal128((input_tokens * model.3) + cache_read_tokens * intDiv(model.3, 10) + output_tokens * model.4, 12) / 1000000000000),
    if(h % 97 = 0, 'unpriced', if(h % 41 = 0, 'estimated', 'priced')), 'bench', if(h % 33 = 0, 'error', 'ok'),
    if(h % 33 = 0, 'rate_limit', ''), 200 + (h % 5000) * 1.7, if(h % 2 = 0, 80 + (h % 700), NULL), h % 2 = 0, ts
FROM (
    SELECT number AS n, cityHash64(number) AS h, cityHash64(intDiv(number, 2), 'request') AS r,  -- r: per request
        fromUnixTimestamp64Micro(toInt64({end_us:Int64} - n * ({span_us:Int64} / {rows:UInt64})
            - (h % 60) * 1000000), 'UTC') AS ts,
        concat('tenant-', toString(toUInt32(pow((r % 1000003) / 1000003, 3) * 50))) AS tenant_id,
        toUInt32(pow((intHash32(r) % 10007) / 10007, 2) * 12) AS feature_number,
        lower(hex(r)) AS request_id, if(h % 20 = 0, 2, 1) AS attempt,
        arrayElement({models}, 1 + (feature_number + if(h % 5 = 0, 1 + h % 2, 0)) % 8) AS model,  -- a main model per feature, 20% fallbacks
        200 + (h % 6000) AS input_tokens, if(h % 3 = 0, (h % 2000), 0) AS cache_read_tokens, 20 + (h % 900) AS output_tokens
    FROM numbers({first:UInt64}, {count:UInt64})
)
"""

_RANGE = "{col} >= toDateTime({start}) AND {col} <= toDateTime({end})"


def panels(tenant: str | None) -> dict[str, tuple[str, str, str]]:
    """name -> (kind, raw SQL, rollup SQL) with {start} {end} {interval} left for the range; tenant filter
    expanded as $__conditionalAll does (1=1 for All)."""
    only = f"tenant_id IN ('{tenant}')" if tenant else "1=1"
    raw_where = f"{_RANGE.format(col='ts', start='{start}', end='{end}')} AND {only}"
    hourly = f"{_RANGE.format(col='hour', start='{start}', end='{end}')} AND {only}"
    return {
        "overview: total cost": ("overview", f"SELECT sum(cost_usd) FROM llmcost.llm_usage WHERE {raw_where}",
                                 f"SELECT sum(cost_usd) FROM llmcost.usage_hourly WHERE {hourly}"),
        "overview: cost over time by feature": (
            "overview",
            f"SELECT toStartOfInterval(ts, INTERVAL {{interval}} second) AS time, feature, sum(cost_usd) FROM llmcost.llm_usage"
            f" WHERE {raw_where} GROUP BY time, feature ORDER BY time, feature",
            f"SELECT toStartOfInterval(hour, INTERVAL {{interval}} second) AS time, feature, sum(cost_usd)"
            f" FROM llmcost.usage_hourly WHERE {hourly} GROUP BY time, feature ORDER BY time, feature"),
        "overview: top tenants": (
            "overview",
            f"SELECT tenant_id, sum(cost_usd) AS cost, countIf(cost_usd IS NULL), count() AS calls,"
            f" sum(input_tokens + output_tokens) FROM llmcost.llm_usage WHERE {raw_where} GROUP BY tenant_id"
            f" ORDER BY cost DESC NULLS LAST, calls DESC LIMIT 20",
            f"SELECT tenant_id, sum(cost_usd) AS cost, sum(unpriced_calls), sum(calls) AS c,"
            f" sum(input_tokens) + sum(output_tokens) FROM llmcost.usage_hourly WHERE {hourly} GROUP BY tenant_id"
            f" ORDER BY cost DESC, c DESC LIMIT 20"),
        "overview: cost by model": (
            "overview",
            f"SELECT provider, request_model, sum(cost_usd) AS cost, countIf(cost_usd IS NULL), count() AS calls"
            f" FROM llmcost.llm_usage WHERE {raw_where} GROUP BY provider, request_model ORDER BY cost DESC",
            f"SELECT provider, request_model, sum(cost_usd) AS cost, sum(unpriced_calls), sum(calls)"
            f" FROM llmcost.usage_hourly WHERE {hourly} GROUP BY provider, request_model ORDER BY cost DESC"),
        "overview: features (with requests)": (
            "overview",
            f"SELECT feature, sum(cost_usd) AS cost, count() AS calls, uniqExact(tenant_id, request_id),"
            f" countIf(status = 'error'), countIf(attempt > 1), avg(latency_ms) FROM llmcost.llm_usage"
            f" WHERE {raw_where} GROUP BY feature ORDER BY cost DESC",
            f"SELECT feature, cost, n_calls, requests, failed, retries, latency FROM (SELECT feature, sum(cost_usd) AS cost,"
            f" sum(calls) AS n_calls, sum(failed_calls) AS failed, sum(retry_calls) AS retries,"
            f" sum(latency_ms_sum) / sum(calls) AS latency FROM llmcost.usage_hourly WHERE {hourly} GROUP BY feature) AS a"
            f" LEFT JOIN (SELECT feature, uniqExact(tenant_id, request_id) AS requests FROM llmcost.requests"
            f" WHERE {hourly} GROUP BY feature) AS b USING feature ORDER BY cost DESC"),
        "overview: latency p95 by model": (
            "overview",
            f"SELECT request_model, quantileTDigest(0.95)(latency_ms) FROM llmcost.llm_usage WHERE {raw_where}"
            f" GROUP BY request_model",
            f"SELECT request_model, quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[2]"
            f" FROM llmcost.usage_hourly WHERE {hourly} GROUP BY request_model"),
        "drill-down: request list": (
            "list",
            f"SELECT request_id, tenant_id, min(ts) AS started, count(), countIf(status = 'error'), sum(cost_usd) AS cost,"
            f" sum(input_tokens), sum(output_tokens), max(latency_ms) FROM llmcost.llm_usage WHERE {raw_where}"
            f" GROUP BY tenant_id, request_id ORDER BY cost DESC NULLS LAST, started DESC LIMIT 500",
            f"SELECT request_id, tenant_id, min(first_ts) AS started, sum(calls), sum(failed_calls), sum(cost_usd) AS cost,"
            f" sum(input_tokens), sum(output_tokens), max(max_latency_ms) FROM llmcost.requests WHERE {hourly}"
            f" GROUP BY tenant_id, request_id ORDER BY cost DESC, started DESC LIMIT 500"),
    }


def stats_queries(tenant: str | None) -> dict[str, tuple[str, StatsQuery]]:
    filters = {"tenant": tenant} if tenant else {}
    return {f"stats --by {by or 'total'}": ("overview", StatsQuery(by, filters)) for by in (None, "feature", "model")}


RAW_STATS = """
SELECT {group} AS g, uniqExact(tenant_id, request_id), count(), countIf(status = 'error'), sum(input_tokens),
    sum(output_tokens), sum(cost_usd), countIf(llm_usage.cost_usd IS NULL), avg(latency_ms)
FROM llmcost.llm_usage WHERE ts >= {{since:DateTime64(6, 'UTC')}} AND ts < {{until:DateTime64(6, 'UTC')}} {where}
GROUP BY g
"""


def timed(conn, sql: str, params: dict, repeat: int) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        result = conn.query(sql, "Null", params=params)
        times.append((time.perf_counter() - began) * 1000)
        rows = result.storage_rows_read()
    return statistics.median(times), rows


def generate(conn, rows: int, days: int, end: datetime) -> float:
    began = time.perf_counter()
    sql = GENERATE.replace("{models}", MODELS)
    for first in range(0, rows, CHUNK):
        conn.query(sql, "CSV", params={"end_us": str(int(end.timestamp() * 1e6)), "span_us": str(days * 86400 * 10**6),
                                       "rows": str(rows), "first": str(first), "count": str(min(CHUNK, rows - first))})
        print(f"  generated {min(first + CHUNK, rows):,} rows ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--repeat", type=int, default=5, help="runs per rollup query (median)")
    parser.add_argument("--raw-repeat", type=int, help="runs per raw query (default --repeat; 1 saves time at 100M)")
    parser.add_argument("--data-dir", help="reuse (or keep) the generated store here")
    args = parser.parse_args()
    path = args.data_dir or tempfile.mkdtemp(prefix="llmcost-qs-")
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    store = ChdbStore(path, "llmcost")
    store.ensure_schema()
    existing = store.query("SELECT count() AS n, toString(max(ts)) AS last FROM llmcost.llm_usage")[0]
    store.close()
    conn = chdb.connect(path)
    if existing["n"] == 0:
        print(f"generation of {args.rows:,} rows: {generate(conn, args.rows, args.days, end):.0f} s")
    else:
        end = datetime.fromisoformat(existing["last"]).replace(tzinfo=timezone.utc, minute=0, second=0, microsecond=0)
        print(f"reusing {existing['n']:,} rows in {path}")
    busiest = conn.query("SELECT tenant_id FROM llmcost.usage_daily GROUP BY tenant_id ORDER BY sum(calls) DESC LIMIT 1",
                         "CSV").bytes().decode().strip().strip('"')
    print(f"{'query':40} {'range':>5} {'tenant':>10} {'raw ms':>9} {'rollup ms':>9} {'ratio':>7} {'raw rows':>12} "
          f"{'rollup rows':>11}")
    for label, hours in (("24h", 24), ("7d", 168), ("30d", 720)):
        start = end - timedelta(hours=hours) + timedelta(minutes=17)  # off the hour, as a dashboard's "now"
        until = end + timedelta(minutes=17)
        interval = max(3600, hours * 3600 // 200 // 3600 * 3600)
        for tenant in (None, busiest):
            cases = []
            for name, (kind, raw, rolled) in panels(tenant).items():
                fill = {"start": int(start.timestamp()), "end": int(until.timestamp()), "interval": interval}
                cases.append((name, kind, raw.format(**fill), rolled.format(**fill), {}, {}))
            for name, (kind, query) in stats_queries(tenant).items():
                where = f"AND tenant_id = '{tenant}'" if tenant else ""
                raw = RAW_STATS.format(group={None: "'all'", "feature": "feature", "model": "request_model"}[query.by],
                                       where=where)
                window = {"since": start.strftime("%Y-%m-%d %H:%M:%S.%f"), "until": until.strftime("%Y-%m-%d %H:%M:%S.%f")}
                rolled = f"SELECT * FROM ({query.totals_sql('llmcost')}) AS t LEFT JOIN ({query.requests_sql('llmcost')}) AS q USING group"
                params = query.totals_params(start, until) | query.requests_params(start, until)
                cases.append((name, kind, raw, rolled, window, params))
            for name, kind, raw, rolled, raw_params, rolled_params in cases:
                raw_ms, raw_rows = timed(conn, raw, raw_params, args.raw_repeat or args.repeat)
                rolled_ms, rolled_rows = timed(conn, rolled, rolled_params, args.repeat)
                target = 100 if kind == "overview" else 300
                mark = "" if rolled_ms < target else f"  > {target} ms target"
                print(f"{name:40} {label:>5} {tenant or 'All':>10} {raw_ms:9.1f} {rolled_ms:9.1f} "
                      f"{raw_ms / max(rolled_ms, 0.01):7.1f} {raw_rows:12,} {rolled_rows:11,}{mark}", flush=True)
    print("\ntable sizes")
    sizes = conn.query(
        "SELECT table, sum(rows) AS rows, formatReadableSize(sum(bytes_on_disk)) AS disk FROM system.parts"
        " WHERE database = 'llmcost' AND active GROUP BY table ORDER BY sum(bytes_on_disk) DESC", "PrettyCompactNoEscapes")
    print(sizes.bytes().decode())
    conn.close()


if __name__ == "__main__":
    main()
