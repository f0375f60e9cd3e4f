"""The hand-off between ingest workers and the process that owns the embedded store (chDB runs one engine
per process, so with several workers one process holds it).

A worker's flusher and writer work as in one process, against a LinkedStore: the columns of each INSERT are
encoded in the worker, as the ClickHouse Native block chDB loads, and the owner (StoreService) only loads
those bytes; usage rows' come with the spend they add, which the owner's budget ledger records once they are
stored (alerts/ledger.py). The writer's "stored already?" lookup is a query the owner answers; the cost tallies of the
rows stored go to the owner's CostMetrics, so /metrics counts every worker's calls. A StoreError crosses as
itself (retryable or not, a full disk or not): the worker's writer retries, halves and dead-letters exactly
as it would in one process. When the owner is gone, every call fails retryably: the batch stays in the
worker's spool, which the next start replays.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

from otel_llmcost.alerts.ledger import LedgeredStore, Spend, spend_of
from otel_llmcost.errors import StoreError, StoreFullError
from otel_llmcost.flush.joined import InsertJoiner
from otel_llmcost.model import UsageRow
from otel_llmcost.ops.costmetrics import CostMetrics
from otel_llmcost.store.schema import COLUMN_TYPES, TABLE, dedup_token, to_columns
from otel_llmcost.store.writes import StoreWrites

logger = logging.getLogger(__name__)


def _native_block(column_types: Sequence[tuple[str, str]], columns: list[list]) -> bytes:
    # Imported with the first batch, not at the worker's start: the encoder loads clickhouse-driver (~0.1 s).
    from otel_llmcost.store.native import native_block

    return native_block(column_types, columns)


class LinkedStore(StoreWrites):
    """The store as an ingest worker sees it (one per worker; its calls are serialised)."""

    def __init__(self, connection: Connection, database: str):
        self._connection = connection
        self._lock = threading.Lock()
        self.database = database

    def insert_columns(self, table: str, column_types: Sequence[tuple[str, str]], columns: list[list], /,
                       dedup_token: str = "") -> None:
        payload = _native_block(column_types, columns)  # the encoding's CPU stays in the worker
        self._call("insert", table, [name for name, _ in column_types], payload, dedup_token)

    def insert_usage(self, rows: Sequence[UsageRow], /) -> None:
        """With the spend the rows add, recorded by the owner's ledger once its INSERT succeeded (one call)."""
        if rows:
            payload = _native_block(COLUMN_TYPES, to_columns(list(rows)))
            self._call("insert", TABLE, [name for name, _ in COLUMN_TYPES], payload, dedup_token(list(rows)),
                       spend_of(rows))

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]:
        return self._call("query", sql, params)

    def command(self, sql: str, params: dict[str, Any] | None = None, /) -> None:
        self._call("command", sql, params)

    def add_costs(self, tallied: dict) -> None:
        """Counts of stored rows (CostMetrics.tally) for the owner's cost metrics."""
        self._call("costs", tallied)

    def close(self) -> None:
        self._connection.close()

    def _call(self, operation: str, *args: Any) -> Any:
        with self._lock:
            try:
                self._connection.send((operation, args))
                status, value = self._connection.recv()
            except (EOFError, OSError) as exc:
                raise StoreError("the process holding the store is gone") from exc
        if status == "ok":
            return value
        message, retryable, full = value
        raise StoreFullError(message) if full else StoreError(message, retryable)


class StoreService:
    """The owner's side: serves each worker's LinkedStore on a thread of its own, one store call at a time
    (chDB's connection is shared by every worker's calls); the `workers`' blocks for a table are joined into
    one INSERT per interval, each waiting `linger` seconds at most for the others (flush/joined.py)."""

    def __init__(self, store: Any, cost_metrics: CostMetrics, workers: int = 1, linger: float = 0.0):
        # ops.metrics.MeasuredStore over ChdbStore (the owner's insert timings count these), wrapped in a
        # LedgeredStore when the query listener answers budget status from the spend
        self._store = store
        self._cost_metrics = cost_metrics
        self._lock = threading.Lock()
        self.joiner = InsertJoiner(self._insert, workers, linger)

    def serve(self, connection: Connection, name: str) -> threading.Thread:
        thread = threading.Thread(target=self._serve, args=(connection,), name=name, daemon=True)
        thread.start()
        return thread

    def _serve(self, connection: Connection) -> None:
        while True:
            try:
                operation, args = connection.recv()
            except (EOFError, OSError):  # the worker stopped (or was killed): its successor gets a new link
                return
            try:
                reply: tuple[str, Any] = ("ok", self._run(operation, args))
            except StoreError as exc:
                reply = ("error", (str(exc), exc.retryable, isinstance(exc, StoreFullError)))
            except Exception as exc:  # a bug here must not stop the link: the worker retries later
                logger.exception("store call %s from an ingest worker failed", operation)
                reply = ("error", (f"{type(exc).__name__}: {exc}", True, False))
            try:
                connection.send(reply)
            except OSError:
                return

    def _run(self, operation: str, args: tuple) -> Any:
        if operation == "costs":
            self._cost_metrics.absorb(*args)
            return None
        if operation == "insert":
            return self.joiner.insert(*args)
        with self._lock:
            if operation == "query":
                return self._store.query(*args)
            if operation == "command":
                return self._store.command(*args)
        raise ValueError(f"unknown store call {operation!r}")

    def _insert(self, table: str, names: Sequence[str], payload: bytes, dedup_token: str,
                spends: list[Spend | None]) -> None:
        """One INSERT of one or several workers' blocks; the spend of their rows all together."""
        total: Spend = {}
        for spend in spends:
            for key, cost in (spend or {}).items():
                total[key] = total.get(key, Decimal(0)) + cost
        with self._lock:
            if total and isinstance(self._store, LedgeredStore):  # usage rows: their spend recorded once stored
                self._store.insert_native(table, names, payload, dedup_token, total)
            else:
                self._store.insert_native(table, names, payload, dedup_token)
