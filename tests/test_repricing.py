"""Repricing in place: only the calls in range change, and rows inserted while it runs are kept."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from decimal import Decimal

from otel_llmcost.pricing import load_price_book
from otel_llmcost.reports.repricing import reprice
from otel_llmcost.store.chdb_store import ChdbStore
from test_store import BASE_ROW

NEW_PRICES = """
version: corrected
prices:
  - {provider: acme, models: [acme-1], effective_from: 2020-01-01, input: "1", output: "2"}
"""


class ReceiverMeanwhile:
    """The store, plus a receiver that inserts a row just before each write of new costs (as on a server)."""

    def __init__(self, store: ChdbStore, row):
        self._store, self._row = store, row
        self.database = store.database

    def command(self, sql, params=None):
        if "UPDATE" in sql:
            self._store.insert_usage([self._row])
        self._store.command(sql, params)

    def query(self, sql, params=None):
        return self._store.query(sql, params)

    def insert_columns(self, *args):
        self._store.insert_columns(*args)


def test_reprice_rewrites_costs_in_range_and_keeps_rows_inserted_meanwhile(tmp_path):
    store = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    store.ensure_schema()
    at = datetime(2026, 11, 10, tzinfo=timezone.utc)
    base = dataclasses.replace(BASE_ROW, provider="acme", request_model="acme-1", response_model="acme-1")
    in_range = [dataclasses.replace(base, span_id=f"{n:016x}", ts=at, input_tokens=1_000_000,
                                    output_tokens=1_000_000) for n in (1, 2)]
    before_range = dataclasses.replace(base, span_id=f"{3:016x}", ts=datetime(2026, 11, 2, tzinfo=timezone.utc))
    store.insert_usage([*in_range, before_range])
    late = dataclasses.replace(base, span_id=f"{4:016x}", ts=at, cost_usd=Decimal("9"))
    book_file = tmp_path / "corrected.yaml"
    book_file.write_text(NEW_PRICES)

    summary = reprice(ReceiverMeanwhile(store, late), load_price_book([str(book_file)]),
                      datetime(2026, 11, 5, tzinfo=timezone.utc), datetime(2026, 12, 1, tzinfo=timezone.utc), False)

    assert (summary.rows, summary.changed_rows) == (2, 2)
    rows = store.query("SELECT span_id, cost_usd, price_book_version FROM llmcost.llm_usage ORDER BY span_id")
    assert rows == [
        {"span_id": f"{1:016x}", "cost_usd": "3", "price_book_version": "corrected"},  # 1M x 1 + 1M x 2
        {"span_id": f"{2:016x}", "cost_usd": "3", "price_book_version": "corrected"},
        {"span_id": f"{3:016x}", "cost_usd": "0.000075", "price_book_version": "v1"},  # before --since
        {"span_id": f"{4:016x}", "cost_usd": "9", "price_book_version": "v1"},  # inserted while repricing
    ]
    store.close()
