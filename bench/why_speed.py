#!/usr/bin/env python
"""Speed of `otel-llmcost why` and of the overview's "Why the cost changed" panel on a generated store.

    .venv/bin/python bench/why_speed.py [--rows N] [--days D] [--repeat R] [--data-dir DIR]

Generates N calls (default 2 million) over D days (default 30) into chDB with bench/usage_generator.py (50
skewed tenants, 12 features, 8 models, retries, failures), or reuses --data-dir. Ranges end 17 minutes past
the newest row's hour (so both ends have partial hours, read from raw rows); each is compared with the
period of the same length before it. For all tenants and the busiest one: the median ms of the whole `why`
report (its 6 queries: segments and request counts of both ranges, top requests and their calls) and of
the panel's one query as Grafana sends it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from grafana_plugin import ALL, by_uid, expand, queries, settings  # noqa: E402
from otel_llmcost.reports import why_report  # noqa: E402
from otel_llmcost.store.chdb_store import param_text  # noqa: E402
from query_speed import NOW_PAST_THE_HOUR, RANGES, open_store  # noqa: E402
from usage_generator import busiest_tenant  # noqa: E402

PANEL = "panel 'Why the cost changed (against the period before)' A"


def run_report(conn, report) -> dict:
    def query(sql: str, params: dict) -> list[dict]:
        result = conn.query(sql, "JSONEachRow", params={name: param_text(value) for name, value in params.items()})
        return [json.loads(line) for line in result.bytes().decode().splitlines() if line]

    return why_report.run(query, report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--data-dir", help="reuse (or keep) the generated store here")
    args = parser.parse_args()
    args.data_dir = args.data_dir or tempfile.mkdtemp(prefix="llmcost-why-")
    conn, end = open_store(args)
    conn.query("SET output_format_json_quote_decimals = 1, output_format_json_quote_64bit_integers = 0")
    until = end - timedelta(hours=1) + NOW_PAST_THE_HOUR
    tenant = busiest_tenant(conn)
    panel = queries(by_uid("llmcost-overview"))[PANEL]
    print(f"{'range':>5}  {'tenant':<10} {'why ms':>8}  {'panel ms':>8}  largest cause")
    for label, hours in RANGES.items():
        since = until - timedelta(hours=hours)
        if since - (until - since) < end - timedelta(days=args.days):
            continue  # the baseline would reach before the data
        for who in (ALL, tenant):
            scope = {} if who == ALL else {"tenant": who}
            baseline = why_report.baseline_of(since, until, None)
            times, report = [], {}
            for _ in range(args.repeat):
                began = time.perf_counter()
                report = run_report(conn, why_report.why("llmcost", scope, since, until, baseline))
                times.append((time.perf_counter() - began) * 1000)
            sql = expand(panel, settings("llmcost-overview", tenant=who), (since, until))
            panel_times = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                conn.query(sql, "JSONEachRow")
                panel_times.append((time.perf_counter() - began) * 1000)
            top = report["causes"][0]
            print(f"{label:>5}  {who if who != ALL else 'all':<10} {statistics.median(times):8.0f}  "
                  f"{statistics.median(panel_times):8.0f}  {top['label']} {top['change_usd'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
