#!/usr/bin/env python
"""Insert cost: chDB CPU per call of one INSERT of a receiver's batch, with and without the materialized views.

    python bench/insert_cost.py [--calls 50000] [--repeat 7] [--shapes skewed,even] [--seconds 60]

For each traffic shape of bench/usage_generator.py: `--calls` calls made within `--seconds` (a receiver's batch
covers seconds of traffic), encoded once as a Native block, then inserted --repeat times as the receiver
inserts (ChdbStore.insert_native: a Native file, a dedup token of its own each time) into
  "no views": a table of llm_usage's structure, engine and projections that no view reads, and
  "all views": llm_usage itself, whose views fill every rollup the installed schema has (this checkout's
               migrations, so run it on a branch to price that branch's views).
Each INSERT: CPU of this process (user + sys, all of chDB's threads: getrusage) and wall time, per call; the
median of the repeats. Background merges of earlier parts may land in a later insert's figures: the median
and repeats > 5 keep them out. Prints, per shape, both rows and what the views add.
"""

from __future__ import annotations

import argparse
import resource
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone

from otel_llmcost.store.chdb_store import ChdbStore
from usage_generator import SHAPES, insert_calls  # bench/ is on sys.path

PLAIN = "llm_usage_no_views"
SOURCE = "llm_usage_batch"
# Each repeat's batch lands in the same hour (as a busy receiver's do): rollup groups merge, as in production.
END = datetime.now(timezone.utc).replace(minute=30, second=0, microsecond=0)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def batch(store: ChdbStore, shape: str, calls: int, seconds: int) -> tuple[list[str], bytes]:
    """The batch's column names and Native block: `calls` calls of `shape` made in `seconds`."""
    store.command(f"DROP TABLE IF EXISTS llmcost.{SOURCE}")
    store.command(f"CREATE TABLE llmcost.{SOURCE} AS llmcost.{PLAIN}")
    insert_calls(store._conn, SOURCE, shape, END, seconds, calls, 0, calls)  # the bench's own store
    names = [row["name"] for row in store.query(f"DESCRIBE TABLE llmcost.{SOURCE}")
             if row["default_type"] not in ("MATERIALIZED", "ALIAS")]
    payload = store._conn.query(f"SELECT {', '.join(names)} FROM llmcost.{SOURCE}", "Native").bytes()
    store.command(f"DROP TABLE llmcost.{SOURCE}")
    return names, payload


def measure(store: ChdbStore, table: str, names: list[str], payload: bytes, calls: int, repeat: int
            ) -> tuple[float, float]:
    """Median CPU µs and wall µs per call of `repeat` INSERTs of the batch into `table`."""
    cpu, wall = [], []
    for _ in range(repeat):
        began_cpu, began = cpu_seconds(), time.perf_counter()
        store.insert_native(table, names, payload, secrets.token_hex(16))
        cpu.append((cpu_seconds() - began_cpu) * 1e6 / calls)
        wall.append((time.perf_counter() - began) * 1e6 / calls)
    return statistics.median(cpu), statistics.median(wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50_000, help="calls per INSERT (default 50,000)")
    parser.add_argument("--repeat", type=int, default=7, help="INSERTs per table and shape (median)")
    parser.add_argument("--shapes", default="skewed,even", help=f"of {', '.join(sorted(SHAPES))}")
    parser.add_argument("--seconds", type=int, default=60, help="the time the batch's calls were made in")
    args = parser.parse_args()
    path = tempfile.mkdtemp(prefix="llmcost-insert-cost-")
    store = ChdbStore(path, "llmcost")
    store.ensure_schema()
    views = [row["name"] for row in store.query(
        "SELECT name FROM system.tables WHERE database = 'llmcost' AND engine = 'MaterializedView'"
        " AND create_table_query LIKE '%FROM llmcost.llm_usage%'")]
    print(f"store {path}: {len(views)} views on llm_usage ({', '.join(sorted(views))})")
    print(f"{'shape':7} {'table':10} {'CPU µs/call':>11} {'wall µs/call':>12}")
    for shape in args.shapes.split(","):
        store.command(f"DROP TABLE IF EXISTS llmcost.{PLAIN}")
        store.command(f"CREATE TABLE llmcost.{PLAIN} AS llmcost.llm_usage")
        names, payload = batch(store, shape, args.calls, args.seconds)
        figures = {}
        for label, table in (("no views", PLAIN), ("all views", "llm_usage")):
            figures[label] = measure(store, table, names, payload, args.calls, args.repeat)
            print(f"{shape:7} {label:10} {figures[label][0]:11.1f} {figures[label][1]:12.1f}", flush=True)
        added = figures["all views"][0] - figures["no views"][0]
        print(f"{shape:7} {'views add':10} {added:11.1f} ({figures['all views'][0] / figures['no views'][0]:.1f}x)")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
