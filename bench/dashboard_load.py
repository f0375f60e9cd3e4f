#!/usr/bin/env python
"""A whole dashboard loaded as Grafana loads it: every panel at once, one key, through the query listener.

    python bench/dashboard_load.py --data-dir DIR [--dashboard overview] [--range 30d] [--tenant T]
                                   [--parallel P] [--per-key K] [--loads L]

Grafana sends a dashboard's panel queries together (a browser keeps up to 6 connections to a host: --parallel),
all under the dashboard's one data-source key. The listener runs at most query.max_concurrent_queries_per_key
of one key's queries at a time (--per-key: another value to compare; default the setting's) and
max_concurrent_queries in all; the others wait up to queue_seconds, then fail with code 202. Over a store
bench/usage_generator.py built, with `serve`'s other query defaults: per load, the wall time until the last
panel answered and how many failed; per panel its median latency as the client saw it (waiting included) and
the median time it ran alone (one at a time, the same listener). Wall times: note the load.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import clickhouse_connect

from dashboard_queries import dashboard_queries  # bench/ is on sys.path
from otel_llmcost.config import QuerySettings
from otel_llmcost.keys import QUERY
from query_speed import NOW_PAST_THE_HOUR, RANGES, Listener
from usage_generator import build

_clients = threading.local()


def _client(port: int, secret: str):
    """This thread's clickhouse-connect client (a browser connection): one key, no session, as Grafana's."""
    if not hasattr(_clients, "client"):
        _clients.client = clickhouse_connect.get_client(host="127.0.0.1", port=port, password=secret,
                                                        database="llmcost", send_receive_timeout=120,
                                                        autogenerate_session_id=False)
    return _clients.client


def _timed(client, sql: str) -> tuple[float, str]:
    began = time.perf_counter()
    try:
        client.query(sql)
        return (time.perf_counter() - began) * 1000, ""
    except Exception as error:  # the listener's refusal (202: waited too long), as the client raises it
        return (time.perf_counter() - began) * 1000, " ".join(str(error).split())[:120]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dashboard", default="overview", help="its uid without llmcost- (default overview)")
    parser.add_argument("--range", default="30d", choices=sorted(RANGES))
    parser.add_argument("--tenant", help="the tenant variable (default All)")
    parser.add_argument("--parallel", type=int, default=6, help="requests at once (a browser's 6 connections)")
    parser.add_argument("--per-key", type=int, help="query.max_concurrent_queries_per_key (default: the setting's)")
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    conn, end = build(args.data_dir, 0, 0, "even")
    conn.close()
    settings = QuerySettings()
    if args.per_key:
        settings = dataclasses.replace(settings, max_concurrent_queries_per_key=args.per_key)
    window = (end - timedelta(hours=RANGES[args.range]) + NOW_PAST_THE_HOUR, end + NOW_PAST_THE_HOUR)
    chosen = {"tenant": args.tenant} if args.tenant else {}
    queries = [q for q in dashboard_queries(f"{args.dashboard}:") if q.kind != "variable"]
    texts = {q.label: q.expanded(window, **chosen) for q in queries}
    listener = Listener(args.data_dir, settings)
    _, secret = listener.keys.create(None, (QUERY,), "dashboard_load")  # the dashboard's one key
    port = listener.port
    try:
        alone = {label: statistics.median(_timed(_client(port, secret), sql)[0] for _ in range(3))
                 for label, sql in texts.items()}
        latencies: dict[str, list[float]] = {label: [] for label in texts}
        print(f"{args.dashboard}, {args.range}, tenant {args.tenant or 'All'}: {len(texts)} panels, "
              f"{args.parallel} at once, per key {settings.max_concurrent_queries_per_key}, "
              f"{settings.max_concurrent_queries} in all")
        for load in range(args.loads):
            began = time.perf_counter()
            with ThreadPoolExecutor(args.parallel) as pool:
                results = dict(zip(texts, pool.map(lambda sql: _timed(_client(port, secret), sql), texts.values()),
                                   strict=True))
            wall = (time.perf_counter() - began) * 1000
            failed = [f"{label}: {error}" for label, (_, error) in results.items() if error]
            for label, (ms, _) in results.items():
                latencies[label].append(ms)
            print(f"  load {load + 1}: {wall:.0f} ms until the last panel, {len(failed)} failed"
                  + "".join(f"\n    FAILED {line}" for line in failed))
        print(f"  sum of the panels run alone: {sum(alone.values()):.0f} ms")
        print(f"  {'panel':60s} {'alone ms':>9s} {'in load ms':>11s}")
        for label in sorted(texts, key=lambda name: -statistics.median(latencies[name])):
            print(f"  {label[:60]:60s} {alone[label]:9.0f} {statistics.median(latencies[label]):11.0f}")
    finally:
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
