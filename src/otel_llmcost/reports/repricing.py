"""Repricing stored calls after a price book change, partition by partition.

For each monthly partition the range touches, the calls in range are priced again with the current price
book (same code path as ingestion). Their new costs go to a Join table keyed by call, and one mutation
(`ALTER TABLE ... UPDATE cost = joinGet(...)`, waited for) rewrites the cost columns of those calls in
place. Nothing else in the partition is touched: on a ClickHouse server, rows receivers insert meanwhile
are kept. While a partition's mutation runs, a reader may see some of its parts repriced and some not;
when reprice returns, every total is the new one. Calls whose usage was flagged invalid keep their
status. Every run, dry runs included, is recorded in reprice_runs.

The materialized views never see a mutation, so the repriced partitions of every rollup (usage_hourly,
usage_daily, requests) are then rebuilt from the raw rows (store/rollups.py): afterwards each equals what a
fresh build from llm_usage gives, to the last Decimal digit.

The embedded store cannot be written by two processes, so the receiver is stopped while this runs.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from otel_llmcost.kinds import COUNTS
from otel_llmcost.model import Cost, LlmCall
from otel_llmcost.pricing import PriceBook, price_call
from otel_llmcost.reports import queries
from otel_llmcost.store import UsageStore, rollups
from otel_llmcost.store.schema import COLUMN_TYPES

_COST_FIELDS = {"cost_status": "status", "cost_note": "note"}  # column -> Cost field, where they differ
_COLUMN_OF = {name: column for column, name in _COST_FIELDS.items()}
_COST_COLUMN_NAMES = {_COLUMN_OF.get(f.name, f.name) for f in dataclasses.fields(Cost)}
#: The llm_usage columns that hold what pricing decides: one per Cost field, with the table's types.
COST_COLUMNS = tuple((name, ch_type) for name, ch_type in COLUMN_TYPES if name in _COST_COLUMN_NAMES)
_KEY_COLUMNS = (("trace_id", "String"), ("span_id", "String"))


@dataclass
class ModelTotals:
    rows: int = 0
    old_total: Decimal = Decimal(0)
    new_total: Decimal = Decimal(0)


@dataclass
class RepriceSummary:
    run_id: str
    rows: int = 0
    changed_rows: int = 0
    by_model: dict[str, ModelTotals] = field(default_factory=lambda: defaultdict(ModelTotals))


def reprice(store: UsageStore, price_book: PriceBook, since: datetime, until: datetime, dry_run: bool,
            progress: Callable[[str], None] = lambda _: None) -> RepriceSummary:
    """Price the calls started in [since, until) again; write the new costs unless dry_run."""
    started = datetime.now(timezone.utc)
    summary = RepriceSummary(run_id=uuid.uuid4().hex[:12])
    database = store.database
    window = queries.time_range(since, until)
    partitions = [row["partition"] for row in store.query(queries.partitions(database), window)]
    repriced = []
    for number, partition in enumerate(partitions, 1):
        rows = store.query(queries.priced_rows(database), {**window, "partition": partition})
        costs = [_reprice_row(row, price_book) for row in rows]
        for row, cost in zip(rows, costs, strict=True):
            _count(summary, row, cost)
        if not dry_run and rows:
            _update_partition(store, partition, rows, costs)
            repriced.append(partition)
        progress(f"partition {partition}: {len(rows)} calls {'checked' if dry_run else 'repriced'} "
                 f"({number}/{len(partitions)})")
    if repriced:
        rollups.rebuild(store, repriced)
        progress(f"rollups rebuilt for {len(repriced)} partitions")
    _record(store, summary, started, since, until, dry_run, price_book.version)
    return summary


def _reprice_row(row: dict, price_book: PriceBook) -> Cost:
    call = LlmCall(
        dialect="reprice", provider=row["provider"], operation=row["operation"],
        request_model=row["request_model"], response_model=row["response_model"], response_id="",
        **{kind: row[kind] for kind in COUNTS}, error_type="", streaming=False, ttft_ms=None,
        service_tier=row["service_tier"], server_address="",
    )
    at = datetime.fromisoformat(row["started"]).replace(tzinfo=timezone.utc)
    return price_call(call, at, price_book, tenant=row["tenant_id"])


def _count(summary: RepriceSummary, row: dict, cost: Cost) -> None:
    old = Decimal(row["cost_usd"]) if row["cost_usd"] is not None else None
    totals = summary.by_model[row["model"]]
    totals.rows += 1
    totals.old_total += old or 0
    totals.new_total += cost.cost_usd or 0
    summary.rows += 1
    if old != cost.cost_usd or row["price_id"] != cost.price_id or row["cost_status"] != cost.status:
        summary.changed_rows += 1


def _update_partition(store: UsageStore, partition: str, rows: list[dict], costs: list[Cost]) -> None:
    database = store.database
    for statement in queries.reprice_costs_table(database, COST_COLUMNS):
        store.command(statement)
    columns = [[row[name] for row in rows] for name, _ in _KEY_COLUMNS]
    columns += [[getattr(cost, _COST_FIELDS.get(name, name)) for cost in costs] for name, _ in COST_COLUMNS]
    store.insert_columns("reprice_costs", _KEY_COLUMNS + COST_COLUMNS, columns)
    store.command(queries.update_costs(database, [name for name, _ in COST_COLUMNS]), {"partition": partition})
    store.command(queries.drop_reprice_costs(database))


def _record(store: UsageStore, summary: RepriceSummary, started: datetime, since: datetime, until: datetime,
            dry_run: bool, version: str) -> None:
    by_model = {model: {"rows": t.rows, "old_total": format(t.old_total, "f"), "new_total": format(t.new_total, "f")}
                for model, t in sorted(summary.by_model.items())}
    old = sum((t.old_total for t in summary.by_model.values()), Decimal(0))
    new = sum((t.new_total for t in summary.by_model.values()), Decimal(0))
    row: list[Any] = [summary.run_id, started, datetime.now(timezone.utc), since, until, dry_run, version,
                      summary.rows, summary.changed_rows, old, new, json.dumps(by_model)]
    columns = [[value] for value in row]
    store.insert_columns("reprice_runs", queries.REPRICE_RUN_COLUMNS, columns)
