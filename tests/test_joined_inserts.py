"""The store owner joins its ingest workers' blocks: one INSERT per table per interval (flush/joined.py), over
real pipes to a real chDB store, each worker still getting its own block's outcome."""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
from datetime import datetime, timezone
from decimal import Decimal

from otel_llmcost.alerts.ledger import LedgeredStore, SpendLedger
from otel_llmcost.errors import StoreError
from otel_llmcost.flush.handoff import LinkedStore, StoreService
from otel_llmcost.ops.costmetrics import CostMetrics
from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.schema import COLUMN_TYPES, TABLE
from test_store import BASE_ROW


def _linked(service: StoreService, store: ChdbStore, name: str) -> LinkedStore:
    worker_end, owner_end = multiprocessing.Pipe()
    service.serve(owner_end, name)
    return LinkedStore(worker_end, store.database)


def _rows(worker: int, count: int) -> list:
    return [dataclasses.replace(BASE_ROW, trace_id=f"{worker:032x}", span_id=f"{index:016x}") for index in range(count)]


def _together(*calls) -> list[BaseException | None]:
    """Run the calls on threads at once; what each raised (None: it returned)."""
    outcomes: list[BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            calls[index]()
        except BaseException as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def _stored(store: ChdbStore) -> list[str]:
    return [row["trace_id"] for row in store.query(f"SELECT trace_id FROM {store.database}.{TABLE} ORDER BY trace_id")]


def test_two_workers_blocks_are_one_insert_and_a_repeat_of_them_is_dropped(store):
    # A linger far longer than the test: the join must come from both blocks being there, not from a timeout.
    service = StoreService(store, CostMetrics((), 1, "joined"), workers=2, linger=600.0)
    first, second = _linked(service, store, "w0"), _linked(service, store, "w1")
    rows = {0: _rows(0, 3), 1: _rows(1, 2)}
    for _ in range(2):  # the same two blocks again (a retry of both): their joined token drops the repeat
        assert _together(lambda: first.insert_usage(rows[0]), lambda: second.insert_usage(rows[1])) == [None, None]
    assert (service.joiner.blocks, service.joiner.inserts) == (4, 2)
    assert _stored(store) == [f"{0:032x}"] * 3 + [f"{1:032x}"] * 2


def test_a_block_the_store_refuses_fails_alone(store):
    service = StoreService(store, CostMetrics((), 1, "joined"), workers=2, linger=600.0)
    good = _linked(service, store, "w0")
    names = [name for name, _ in COLUMN_TYPES]
    outcomes = _together(lambda: good.insert_usage(_rows(0, 2)),
                         lambda: service.joiner.insert(TABLE, names, b"\x05not a Native block", "bad"))
    assert outcomes[0] is None and isinstance(outcomes[1], StoreError)
    assert service.joiner.inserts == 3  # joined (refused), then each block alone
    assert _stored(store) == [f"{0:032x}"] * 2


def test_a_lone_worker_is_not_held_past_the_linger(store):
    service = StoreService(store, CostMetrics((), 1, "joined"), workers=2, linger=0.2)
    _linked(service, store, "w0").insert_usage(_rows(0, 1))  # the other worker has nothing this interval
    assert (service.joiner.blocks, service.joiner.inserts) == (1, 1)
    assert _stored(store) == [f"{0:032x}"]


def test_the_budget_ledger_records_every_joined_blocks_spend_once(store):
    ledger = SpendLedger()
    service = StoreService(LedgeredStore(store, ledger), CostMetrics((), 1, "joined"), workers=2, linger=600.0)
    first, second = _linked(service, store, "w0"), _linked(service, store, "w1")
    now = datetime.now(timezone.utc)
    rows = {worker: [dataclasses.replace(row, ts=now, cost_usd=Decimal("0.25")) for row in _rows(worker, count)]
            for worker, count in ((0, 3), (1, 2))}
    assert _together(lambda: first.insert_usage(rows[0]), lambda: second.insert_usage(rows[1])) == [None, None]
    assert service.joiner.inserts == 1
    assert ledger.spent("acme", {})["month_usd"] == Decimal("1.25")  # 5 rows at 0.25, each once
