"""`otel-llmcost sql`, `stats`, `schema` and `migrate`: read (and migrate) the store the receiver writes."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

from otel_llmcost.cli.tables import print_table
from otel_llmcost.config import Settings
from otel_llmcost.reports.chargeback import load_chargeback
from otel_llmcost.reports.timerange import parse_time, time_window
from otel_llmcost.reports.usage_stats import FILTERS, TIME_GROUPS, StatsQuery, compare, stats_rows
from otel_llmcost.store import open_reader, open_store
from otel_llmcost.store.migrations import LATEST, SchemaOptions, all_statements, migrate

__all__ = ["parse_time", "run_schema", "run_sql", "run_stats", "time_window"]


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
    chargeback = load_chargeback(args.chargeback) if args.chargeback else None
    store = open_reader(settings)
    try:
        rows = stats_rows(store, query, since, until, chargeback)
        if args.compare:
            shift = until - since if args.by in TIME_GROUPS else None
            rows = compare(rows, stats_rows(store, query, since - (until - since), since), shift)
    finally:
        store.close()
    # the group's key says what it holds (--by's name); without --by there is one row and no group
    rows = [({args.by: row["group"]} if args.by else {}) | {k: v for k, v in row.items() if k != "group"}
            for row in rows]
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print_table([_table_order(row) for row in rows], args.by or "", "no LLM calls in this time range",
                    wide=args.wide, signed=("change_usd",))
    return 0


def _table_order(row: dict) -> dict:
    """Money first after the group (the effective cost leading), then counts and tokens, then the rest (the
    table may be cut on the right)."""
    money = [key for key in row if key.endswith("_usd") or key in ("billed", "billed_currency", "change_pct")]
    first = sorted(money, key=lambda key: key != "cost_usd")
    return {key: row[key] for key in list(row)[:1] + first + [k for k in list(row)[1:] if k not in first]}


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
