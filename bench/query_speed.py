#!/usr/bin/env python
"""Query speed: every query of the Grafana dashboards, and the rollups against raw rows, at N realistic rows.

    python bench/query_speed.py [--rows N] [--days D] [--shape skewed|even] [--repeat R] [--raw-repeat R]
                                [--data-dir DIR] [--ranges 24h,7d,30d] [--only SUBSTRING] [--no-raw]
                                [--no-raw-table] [--no-listener]

Generates N calls (default 100 million) of the shape (skewed, or even: 200 tenants, 12 features, 6 models, 5,000
users) over D days into chDB by bench/usage_generator.py's fast path, or reuses the store in --data-dir (migrated
first by ChdbStore.ensure_schema()); adds the spans of the last day's traces when otel_traces is empty. `python
bench/usage_generator.py DIR --shape even` builds a store alone. Time ranges end 17 minutes past the newest row's
hour, like a dashboard's "now"; tenant All, then the busiest tenant. --only: just the queries whose name contains
SUBSTRING.

Main table, the dashboards: every panel target and query variable of grafana/dashboards/*.json as the JSON holds it
at run time (scripts/build_dashboards.py writes it), expanded by tests/grafana_plugin.py as the plugin sends it:
every other variable All, the drill-down's request_id and trace_id textboxes set to the busiest tenant's newest
request of its busiest feature, and $__interval_s what Grafana sends for a 1,000 px wide panel (range / 1000,
rounded up or down to Grafana's nice intervals as its roundInterval does: 24 h -> 1m, 7 d -> 10m, 30 d -> 30m). Each
query: median ms of --repeat runs, rows read (storage_rows_read), rows returned, and "> target" when the median is
over it, each query twice: "direct" in chDB in this process, and "listener" through the query listener as `serve`
runs it (its default limits: one thread and 512 MiB per query) with clickhouse-connect as Grafana's stand-in (its
time includes HTTP and decoding the answer; a query the listener refuses, e.g. HTTP 500 over the memory limit, is a
miss with its error). Targets: "list" (the drill-down's tables and trace view that list requests, attempts, spans or
calls, by its title's words) 300 ms; "overview" (every other panel) and "variable" (query variables) 100 ms. A query
that fails prints its error; the bench goes on and exits 1 at the end. Then per range and tenant how many meet their
target, and the slowest 10.

Second table, rollup vs raw: `stats` (total, by feature, by model) as the CLI runs it, and hand-written pairs for
the overview's key panels, each on raw llm_usage rows and on the rollups, with the raw/rollup ratio (--no-raw:
rollups only). Last, each table's rows and disk size. Targets (issue 9), at 100 million rows: every overview query
under 100 ms median, every drill-down list under 300 ms.

--explain [all]: under each query over its target (all: every query), each table it reads and the granules of it
read (EXPLAIN indexes = 1), e.g. "request_counts_hourly 266/266, llm_usage 30/38". --no-raw-table: the dashboards
only.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import clickhouse_connect

from dashboard_queries import TARGET_MS, dashboard_queries, grafana_interval  # bench/ is on sys.path
from otel_llmcost.config import QuerySettings
from otel_llmcost.keys import QUERY, KeyStore
from otel_llmcost.query.access import Gate
from otel_llmcost.query.clientsettings import Limits
from otel_llmcost.query.executor import QueryEngine
from otel_llmcost.query.interface import QueryListener
from rollup_vs_raw import Statement, pairs
from usage_generator import SHAPES, build, busiest_tenant, newest_request

RANGES = {"24h": 24, "7d": 168, "30d": 720}  # label -> hours
NOW_PAST_THE_HOUR = timedelta(minutes=17)
# EXPLAIN of the why panel (39 kB of SQL on branch scale, 2M calls) asked for 14 GiB and left this process at 16 GB
# of RSS (a run was OOM-killed); the panel itself ran in 0.45 GB. The other panels' SQL is under 11 kB.
EXPLAIN_MAX_CHARS = 20_000


@dataclass(frozen=True)
class Timing:
    ms: float  # median
    rows_read: int
    rows_out: int


@dataclass(frozen=True)
class Result:
    label: str
    kind: str
    range: str
    tenant: str
    timings: dict[str, Timing | None]  # path (direct, listener) -> its timing, None: the query failed there

    def met(self, path: str) -> bool:
        timing = self.timings.get(path)
        return timing is not None and timing.ms < TARGET_MS[self.kind]


class Listener:
    """The query listener as `serve` runs it over the store (query.* defaults: 1 thread and 512 MiB per query,
    2 at a time, 1 per key), in this process beside the bench's connection, and clickhouse-connect as
    Grafana's stand-in with a read key of every tenant (an admin's Grafana; the tenant variable chooses)."""

    def __init__(self, path: str, settings: QuerySettings | None = None):
        settings = settings or QuerySettings()
        limits = Limits(settings.max_execution_time, settings.max_result_rows, settings.max_result_bytes,
                        settings.max_memory_usage, settings.max_threads)
        engine = QueryEngine(path, "llmcost", limits, settings.max_concurrent_queries, settings.queue_seconds,
                             settings.max_concurrent_queries_per_key)
        self._keys_dir = tempfile.TemporaryDirectory(prefix="llmcost-qs-keys-")  # the read keys made for the run
        self.keys = KeyStore(os.path.join(self._keys_dir.name, "keys.json"))
        self._listener = QueryListener(engine, Gate(self.keys, secrets.token_hex(16)), "127.0.0.1", 0,
                                       engine.server_info())
        self._listener.start()
        self.port = self._listener.port
        self.client = self.client_for(None)

    def client_for(self, tenant: str | None):
        """clickhouse-connect with a new read key of `tenant` (None: every tenant)."""
        _, secret = self.keys.create(tenant, (QUERY,), "query_speed")
        return clickhouse_connect.get_client(host="127.0.0.1", port=self._listener.port, password=secret,
                                             database="llmcost", send_receive_timeout=120)

    def close(self) -> None:
        self.client.close()
        self._listener.stop()
        self._keys_dir.cleanup()


def served(client, sql: str, repeat: int) -> Timing:
    """Median wall time of `repeat` runs through the listener, as the client reads the answer (decoded)."""
    times, rows_read, rows_out = [], 0, 0
    for _ in range(repeat):
        began = time.perf_counter()
        result = client.query(sql)
        times.append((time.perf_counter() - began) * 1000)
        rows_read, rows_out = int(result.summary.get("read_rows", 0)), len(result.result_rows)
    return Timing(statistics.median(times), rows_read, rows_out)


def attempt_served(client, sql: str, repeat: int, label: str) -> Timing | None:
    try:
        return served(client, sql, repeat)
    except Exception as error:  # the listener's HTTP error (a limit, a refused query), as the client raises it
        print(f"  ERROR {label} (listener): {' '.join(str(error).split())[:300]}", flush=True)
        return None


def timed(conn, statements: list[Statement], repeat: int) -> Timing:
    """Median wall time of `repeat` runs of the statements one after the other; rows of the last run."""
    times, rows_read, rows_out = [], 0, 0
    for _ in range(repeat):
        began, rows_read, rows_out = time.perf_counter(), 0, 0
        for sql, params in statements:
            result = conn.query(sql, "CSV", params=params)
            rows_read, rows_out = rows_read + result.storage_rows_read(), rows_out + result.rows_read()
        times.append((time.perf_counter() - began) * 1000)
    return Timing(statistics.median(times), rows_read, rows_out)


def attempt(conn, statements: list[Statement], repeat: int, label: str) -> Timing | None:
    try:
        return timed(conn, statements, repeat)
    except Exception as error:  # chDB raises RuntimeError for a query it cannot run
        print(f"  ERROR {label}: {str(error).strip().splitlines()[0][:300]}", flush=True)
        return None


def open_store(args) -> tuple[object, datetime]:
    """A chDB connection to the generated (or reused) store, and its data's end (the hour after its newest row)."""
    return build(args.data_dir or tempfile.mkdtemp(prefix="llmcost-qs-"), args.rows, args.days,
                 getattr(args, "shape", "skewed"))


def reads(conn, sql: str) -> str:
    """What the query reads, from EXPLAIN indexes = 1: each table read (a table read twice is listed twice) with
    the granules its indexes leave of the parts it looks at, e.g. "llm_usage 3,480/12,210"."""
    if len(sql) > EXPLAIN_MAX_CHARS:
        return f"(not explained: {len(sql) // 1000} kB of SQL)"
    try:
        plan = conn.query(f"EXPLAIN indexes = 1, projections = 1 {sql}", "TabSeparatedRaw").bytes().decode()
    except Exception as error:  # a query EXPLAIN cannot take
        return f"(no plan: {str(error).strip().splitlines()[0][:120]})"
    found: list[list[str]] = []
    for line in plan.splitlines():
        text = line.strip("│└├─ ")
        if text.startswith("ReadFromMergeTree (") or text.startswith("ReadFromProjection"):
            found.append([text.split("(", 1)[1].rstrip(")").removeprefix("llmcost.") if "(" in text else text, ""])
        elif found and text.startswith("Granules:") and "/" in text:
            found[-1][1] = text.removeprefix("Granules:").strip()  # the last index's: what is read
        elif found and text.startswith("Parts:") and "Granules:" in text and not found[-1][1]:
            found[-1][1] = text.split("Granules:")[1].strip()
    return ", ".join(f"{table} {granules}" for table, granules in found)


def dashboards_table(conn, listener: Listener | None, args, windows, tenants, textboxes) -> list[Result]:
    queries = dashboard_queries(args.only)
    paths = ["direct"] + (["listener"] if listener else [])
    print(f"\ndashboards: {len(queries)} queries x {len(windows)} ranges x {len(tenants)} tenants "
          f"(targets: {', '.join(f'{kind} {ms} ms' for kind, ms in TARGET_MS.items())}); direct: chDB in this "
          f"process; listener: as Grafana reads it")
    print(f"{'query':58} {'kind':8} {'range':>5} {'tenant':>9} {'direct ms':>9} "
          + (f"{'listen ms':>9} " if listener else "") + f"{'rows read':>12} {'rows out':>8}")
    results = []
    for label, time_range in windows.items():
        for tenant in tenants:
            chosen = textboxes | ({"tenant": tenant} if tenant else {})
            for query in queries:
                where = f"{query.label} ({label}, {tenant or 'All'})"
                try:
                    sql = query.expanded(time_range, **chosen)
                except Exception as error:  # a macro, variable or format the emulation does not know
                    print(f"  ERROR {where}: cannot expand: {error!r}", flush=True)
                    sql = None
                timings = {"direct": attempt(conn, [(sql, {})], args.repeat, where) if sql else None}
                if listener:
                    timings["listener"] = attempt_served(listener.client, sql, args.repeat, where) if sql else None
                result = Result(query.label, query.kind, label, tenant or "All", timings)
                results.append(result)
                figures = " ".join(f"{t.ms:9.1f}" if t else f"{'FAILED':>9}" for t in timings.values())
                known = next((t for t in timings.values() if t), None)
                rows = f"{known.rows_read:12,} {known.rows_out:8,}" if known else f"{'-':>12} {'-':>8}"
                missed = [path for path in paths if not result.met(path)]
                over = f"  > {TARGET_MS[query.kind]} ms ({', '.join(missed)})" if missed else ""
                print(f"{query.label[:58]:58} {query.kind:8} {label:>5} {tenant or 'All':>9} {figures} {rows}{over}",
                      flush=True)
                if sql and (args.explain == "all" or (args.explain == "missed" and missed)):
                    print(f"    reads (granules): {reads(conn, sql)}", flush=True)
    return results


def summary(results: list[Result]) -> None:
    paths = list(dict.fromkeys(path for r in results for path in r.timings))
    print("\ntargets met (a failed query is a miss)")
    for path in paths:
        for label in dict.fromkeys(r.range for r in results):
            for tenant in dict.fromkeys(r.tenant for r in results):
                chosen = [r for r in results if (r.range, r.tenant) == (label, tenant)]
                by_kind = ", ".join(f"{kind} {sum(r.met(path) for r in chosen if r.kind == kind)}/"
                                    f"{sum(r.kind == kind for r in chosen)}" for kind in TARGET_MS)
                failed = sum(r.timings[path] is None for r in chosen)
                print(f"  {path:8} {label:>4} {tenant:>9}: {sum(r.met(path) for r in chosen)}/{len(chosen)} "
                      f"({by_kind})" + (f", {failed} failed" if failed else ""))
    print("slowest 10 (by the slower path; FAILED first)")

    def slowest(r: Result) -> float:
        return max(t.ms if t else float("inf") for t in r.timings.values())

    for r in sorted(results, key=slowest, reverse=True)[:10]:
        figures = ", ".join(f"{path} {t.ms:.1f} ms" if t else f"{path} FAILED" for path, t in r.timings.items())
        print(f"  {figures:42}  {r.label} ({r.kind}, {r.range}, {r.tenant}; target {TARGET_MS[r.kind]} ms)")


def comparison_table(conn, args, windows, tenants) -> int:
    """Prints the rollup vs raw table; returns how many queries failed."""
    print("\nrollup vs raw: `stats` as the CLI runs it, and hand-written equivalents of overview panels")
    print(f"{'query':34} {'range':>5} {'tenant':>9} {'raw ms':>9} {'rollup ms':>9} {'ratio':>7} {'raw rows':>12} "
          f"{'rollup rows':>11}")
    failed = 0
    for label, (since, until) in windows.items():
        for tenant in tenants:
            interval = max(3600, grafana_interval((until - since).total_seconds()))  # as the dashboards' buckets
            for pair in pairs(since, until, interval, tenant):
                if args.only.lower() not in pair.name.lower():
                    continue
                where = f"{pair.name} ({label}, {tenant or 'All'})"
                raw = None if args.no_raw else attempt(conn, [pair.raw], args.raw_repeat or args.repeat, where + " raw")
                rolled = attempt(conn, pair.rollup, args.repeat, where)
                failed += (rolled is None) + (raw is None and not args.no_raw)
                if rolled is None:
                    continue
                ratio = f"{raw.ms / max(rolled.ms, 0.01):7.1f}" if raw else f"{'-':>7}"
                raw_figures = (f"{raw.ms:9.1f} {rolled.ms:9.1f} {ratio} {raw.rows_read:12,}" if raw
                               else f"{'-':>9} {rolled.ms:9.1f} {ratio} {'-':>12}")
                over = "" if pair.target_ms is None or rolled.ms < pair.target_ms else f"  > {pair.target_ms} ms"
                print(f"{pair.name:34} {label:>5} {tenant or 'All':>9} {raw_figures} {rolled.rows_read:11,}{over}",
                      flush=True)
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="skewed", help="of the generated calls")
    parser.add_argument("--repeat", type=int, default=5, help="runs per query (median)")
    parser.add_argument("--raw-repeat", type=int, help="runs per raw query (default --repeat; 1 saves time at 100M)")
    parser.add_argument("--data-dir", help="reuse (or keep) the generated store here")
    parser.add_argument("--ranges", default="24h,7d,30d", help="which of 24h, 7d, 30d to time (default all)")
    parser.add_argument("--only", default="", help="time only the queries whose name contains this")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw-row timings of the rollup vs raw table")
    parser.add_argument("--no-raw-table", action="store_true", help="skip the rollup vs raw table")
    parser.add_argument("--no-listener", action="store_true", help="time the dashboards in chDB directly only")
    parser.add_argument("--direct-memory-gb", type=int, default=4, help="memory limit per direct query (default 4)")
    parser.add_argument("--explain", nargs="?", const="missed", choices=("missed", "all"),
                        help="under each query over its target (or every query: all), the tables it reads and their "
                             "granules (EXPLAIN)")
    args = parser.parse_args()
    store_path = args.data_dir or tempfile.mkdtemp(prefix="llmcost-qs-")
    conn, end = build(store_path, args.rows, args.days, args.shape)
    # a runaway panel fails here instead of taking the machine's memory (one took 15 GB on a 2M store)
    conn.query(f"SET max_memory_usage = {args.direct_memory_gb * 2**30}")
    busiest = busiest_tenant(conn)
    textboxes = newest_request(conn, busiest)
    print(f"busiest tenant {busiest}; drill-down request_id {textboxes['request_id']}, "
          f"trace_id {textboxes['trace_id']}")
    windows = {label: (end - timedelta(hours=hours) + NOW_PAST_THE_HOUR, end + NOW_PAST_THE_HOUR)
               for label, hours in RANGES.items() if label in args.ranges.split(",")}
    tenants = (None, busiest)
    listener = None if args.no_listener else Listener(store_path)
    try:
        results = dashboards_table(conn, listener, args, windows, tenants, textboxes)
    finally:
        if listener:
            listener.close()
    summary(results)
    failed = sum(t is None for r in results for t in r.timings.values())
    failed += 0 if args.no_raw_table else comparison_table(conn, args, windows, tenants)
    print("\ntable sizes")
    sizes = conn.query(  # every table that stores rows, empty ones too
        "SELECT name AS table, sum(p.rows) AS rows, formatReadableSize(sum(p.bytes_on_disk)) AS disk"
        " FROM system.tables AS t LEFT JOIN (SELECT table, rows, bytes_on_disk FROM system.parts"
        " WHERE database = 'llmcost' AND active) AS p ON p.table = t.name"
        " WHERE t.database = 'llmcost' AND t.engine LIKE '%MergeTree' GROUP BY name ORDER BY sum(p.bytes_on_disk) DESC",
        "PrettyCompactNoEscapes")
    print(sizes.bytes().decode())
    conn.close()
    if not args.data_dir:  # a store generated for this run only (--data-dir keeps one)
        shutil.rmtree(store_path, ignore_errors=True)
    if failed:
        print(f"{failed} queries failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
