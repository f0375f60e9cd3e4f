#!/usr/bin/env python
"""The query listener's fixed cost per query: each engine statement a request runs, timed, beside the panel's own.

    python bench/listener_steps.py --data-dir DIR [--only SUBSTRING] [--repeat R] [--range 24h|7d|30d]

Over a store bench/usage_generator.py built (`python bench/usage_generator.py DIR --rows N --shape even`), runs the
dashboards' queries (those whose label contains --only; default a few overview panels and a drill-down list)
through the query listener as `serve` runs it (its default limits), with clickhouse-connect as Grafana's stand-in:
its Native format at the protocol revision it asks for, and JSON; with an admin key and with a tenant key (the
busiest tenant's). Per request, every chDB statement the listener runs is timed (ReadSession's calls, wrapped):
the median of --repeat runs per step, then the client's wall time, the same query in chDB directly, and their
difference (what the listener adds: its statements, HTTP, the client's decoding). Wall times: note the load.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

import chdb

from dashboard_queries import dashboard_queries  # bench/ is on sys.path
from otel_llmcost.config import QuerySettings
from otel_llmcost.store import reader
from otel_llmcost.store.policies import connection_string
from query_speed import NOW_PAST_THE_HOUR, RANGES, Listener
from usage_generator import busiest_tenant, newest_request, scalar

DEFAULT_PANELS = ("overview: Spend", "overview: Requests", "overview: Spend per hour by feature",
                  "drilldown: Feature ranking", "drilldown: Requests of feature")
_steps: list[tuple[str, float, float]] = []  # (statement's first words, wall ms, CPU ms) of the request timed


def _timed(name: str, method):
    def wrapper(self, *args, **kwargs):
        began, cpu = time.perf_counter(), time.process_time()
        try:
            return method(self, *args, **kwargs)
        finally:
            label = name if name in ("connect", "close", "fetch") else " ".join(str(args[0]).split()[:3])[:40]
            if label.startswith("/* llmcost-query"):
                label = "the query"
            _steps.append((label, (time.perf_counter() - began) * 1000, (time.process_time() - cpu) * 1000))
    return wrapper


def instrument() -> None:
    """Every statement of a ReadSession (and each streamed chunk) appends (label, ms) to _steps."""
    for name in ("run", "run_with_stats", "stream", "close"):
        setattr(reader.ReadSession, name, _timed(name, getattr(reader.ReadSession, name)))
    reader.ReadSession.__init__ = _timed("connect", reader.ReadSession.__init__)  # type: ignore[method-assign]
    reader.Chunks.fetch = _timed("fetch", reader.Chunks.fetch)  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--only", action="append", help="queries whose label contains this (repeatable)")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--range", default="30d", choices=sorted(RANGES))
    args = parser.parse_args()
    # The engine started with the row policies' config (as `serve` starts it): tenant keys need them.
    conn = chdb.connect(connection_string(args.data_dir, "llmcost", read_only=False, all_tenants=True))
    newest = datetime.fromisoformat(scalar(conn, "SELECT toString(max(ts)) FROM llmcost.llm_usage"))
    end = newest.replace(tzinfo=timezone.utc, minute=0, second=0, microsecond=0) + timedelta(hours=1)
    conn.query(f"SET max_threads = {QuerySettings().max_threads}")  # "direct" with the listener's one thread
    busiest = busiest_tenant(conn)
    textboxes = newest_request(conn, busiest)
    time_range = (end - timedelta(hours=RANGES[args.range]) + NOW_PAST_THE_HOUR, end + NOW_PAST_THE_HOUR)
    listener = Listener(args.data_dir)  # as `serve` runs it, with its default limits
    instrument()
    clients = {"admin": listener.client, "tenant": listener.client_for(busiest)}
    wanted = args.only or list(DEFAULT_PANELS)
    queries = [q for q in dashboard_queries() if any(w.lower() in q.label.lower() for w in wanted)]
    print(f"{len(queries)} queries, {args.range}, repeat {args.repeat}; load {os.getloadavg()[0]:.1f}")
    totals: list[tuple[str, float, float, float]] = []  # request, fixed wall ms, fixed CPU ms, client wall ms
    try:
        for query in queries:
            for who, client in clients.items():
                chosen = textboxes | ({"tenant": busiest} if who == "tenant" else {})
                sql = query.expanded(time_range, **chosen)
                direct = []
                for _ in range(args.repeat):
                    began = time.perf_counter()
                    conn.query(sql, "Native")
                    direct.append((time.perf_counter() - began) * 1000)
                for fmt in ("Native", "JSON"):
                    run = functools.partial(_ask, client, sql, fmt)
                    run()  # warm
                    walls: list[float] = []
                    steps: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
                    for _ in range(args.repeat):
                        _steps.clear()
                        began = time.perf_counter()
                        run()
                        walls.append((time.perf_counter() - began) * 1000)
                        for label, ms, cpu in _merged(_steps):
                            steps[label].append((ms, cpu))
                    wall, alone = statistics.median(walls), statistics.median(direct)
                    print(f"\n{query.label[:60]} [{who}, {fmt}]: client {wall:.1f} ms, chDB direct (1 thread) "
                          f"{alone:.1f} ms, listener adds {wall - alone:.1f} ms; load {os.getloadavg()[0]:.1f}")
                    for label, times in steps.items():
                        wall_ms, cpu_ms = (statistics.median(t[i] for t in times) for i in (0, 1))
                        print(f"    {wall_ms:8.2f} ms wall {cpu_ms:7.2f} ms CPU  {label}")
                    fixed = [label for label in steps if label not in ("the query", "fetch")]
                    wall_fixed = sum(statistics.median(t[0] for t in steps[label]) for label in fixed)
                    cpu_fixed = sum(statistics.median(t[1] for t in steps[label]) for label in fixed)
                    print(f"    {wall_fixed:8.2f} ms wall {cpu_fixed:7.2f} ms CPU  = statements other than the query")
                    totals.append((f"{query.label[:50]} [{who}, {fmt}]", wall_fixed, cpu_fixed, wall))
        print(f"\nper request: the statements other than the query (wall, CPU), the client's wall; load "
              f"{os.getloadavg()[0]:.1f}")
        for label, wall_fixed, cpu_fixed, wall in totals:
            print(f"  {wall_fixed:8.1f} {cpu_fixed:8.1f} {wall:9.1f}  {label}")
        print(f"  {statistics.median(t[1] for t in totals):8.1f} {statistics.median(t[2] for t in totals):8.1f} "
              f"{'':9}  median")
    finally:
        clients["tenant"].close()
        listener.close()
        conn.close()
    return 0


def _ask(client, sql: str, fmt: str) -> None:
    """As Grafana's stand-in reads it: Native decoded into rows, or the JSON answer's bytes."""
    if fmt == "Native":
        client.query(sql)
    else:
        client.raw_query(sql, fmt=fmt)


def _merged(steps: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """Steps of one request, those of one label summed (a request may SET several times)."""
    total: dict[str, tuple[float, float]] = {}
    for label, ms, cpu in steps:
        before = total.get(label, (0.0, 0.0))
        total[label] = (before[0] + ms, before[1] + cpu)
    return [(label, ms, cpu) for label, (ms, cpu) in total.items()]


if __name__ == "__main__":
    sys.exit(main())
