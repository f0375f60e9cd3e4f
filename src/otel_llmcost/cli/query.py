"""`otel-llmcost sql`, `stats`, `schema` and `migrate`: read (and migrate) the store the receiver writes."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from otel_llmcost.config import Settings
from otel_llmcost.reports.timerange import parse_time, time_window
from otel_llmcost.reports.usage_stats import FILTERS, StatsQuery, compare, stats_rows
from otel_llmcost.store import open_reader, open_store
from otel_llmcost.store.migrations import LATEST, SchemaOptions, all_statements, migrate

__all__ = ["parse_time", "print_table", "run_schema", "run_sql", "run_stats", "time_window"]


def run_sql(args: argparse.Namespace, settings: Settings) -> int:
    store = open_reader(settings)
    try:
        for row in store.query(args.query):
            print(json.dumps(row, ensure_ascii=False))
    finally:
        store.close()
    return 0


def run_stats(args: argparse.Namespace, settings: Settings) -> int:
    since, until = time_window(args.since, args.until, datetime.now(timezone.utc))
    query = StatsQuery(args.by, {name: value for name in FILTERS if (value := getattr(args, name))})
    store = open_reader(settings)
    try:
        rows = stats_rows(store, query, since, until)
        if args.compare:
            rows = compare(rows, stats_rows(store, query, since - (until - since), since))
    finally:
        store.close()
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print_table(rows, args.by or "group", "no LLM calls in this time range")
    return 0


def run_schema(args: argparse.Namespace, settings: Settings) -> int:
    """Every migration's statements (what `migrate` would run on an empty server), then the version record."""
    for statement in all_statements(SchemaOptions.of(settings)):
        print(statement + ";\n")
    return 0


def run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    try:
        applied = migrate(store, SchemaOptions.of(settings))
    finally:
        store.close()
    print(f"schema at version {LATEST}; migrations applied: {', '.join(map(str, applied)) or 'none'}")
    return 0


def print_table(rows: list[dict], group_title: str, empty: str) -> None:
    """Rows as aligned text columns (the first column left-aligned, titled `group_title`)."""
    if not rows:
        print(empty, file=sys.stderr)
        return
    headers = [group_title if name == "group" else name for name in rows[0]]
    cells = [["" if value is None else str(value) for value in row.values()] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
