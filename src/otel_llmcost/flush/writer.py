"""Writes one batch of rows: each call stored once, a bad row never holding back the others.

- Calls already in llm_usage are left out (an export re-sent after a restart or after the buffer forgot it,
  a spool replayed after a crash): one indexed lookup per batch. This also makes a retried batch safe when
  part of it was stored before the failure.
- A retryable store failure (down, slow, full) is raised to the caller, which keeps the batch and its spool
  segments and tries again later.
- A permanent one (the data's fault) splits the batch in halves, recursively, until the rows at fault are
  alone; those go to the dead-letter table, the rest is stored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from otel_llmcost.errors import StoreError
from otel_llmcost.flush import queries
from otel_llmcost.model import UsageRow
from otel_llmcost.rows import deadletter
from otel_llmcost.rows.deadletter import RejectedCall
from otel_llmcost.store import UsageStore, sql_time

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class WriterCounts:
    rows_written: int = 0
    rows_already_stored: int = 0  # left out: the store had them
    rows_dead_lettered: int = 0
    lookup_seconds_total: float = 0.0  # asking the store which calls it has


class BatchWriter:
    def __init__(self, store: UsageStore, on_stored: Callable[[Sequence[UsageRow]], None] | None = None):
        self._store = store
        self._on_stored = on_stored  # told of the rows each successful insert stored (cost metrics)
        self.counts = WriterCounts()

    def write(
        self, rows: Sequence[UsageRow], rejected: Sequence[RejectedCall], spans: list[list] | None = None
    ) -> None:
        """Store the trace spans (otel_traces columns, deduplicated by the store), the rows not stored yet and
        the dead letters; raises StoreError (retryable) to be called again later with the same arguments."""
        if spans:
            self._store.insert_traces(spans)
        fresh = self._not_stored(rows)
        self.counts.rows_already_stored += len(rows) - len(fresh)
        refused: list[RejectedCall] = []
        self._insert(fresh, refused)
        self._dead_letter([*rejected, *refused])

    def _not_stored(self, rows: Sequence[UsageRow]) -> list[UsageRow]:
        if not rows:
            return []
        began = time.perf_counter()
        stored = self._store.query(queries.stored_spans(self._store.database), {
            "since": sql_time(min(row.ts for row in rows)),
            "until": sql_time(max(row.ts for row in rows)),
            "trace_ids": sorted({row.trace_id for row in rows}),
        })
        self.counts.lookup_seconds_total += time.perf_counter() - began
        if not stored:
            return list(rows)
        stored_keys = {(row["trace_id"], row["span_id"]) for row in stored}
        return [row for row in rows if (row.trace_id, row.span_id) not in stored_keys]

    def _insert(self, rows: list[UsageRow], refused: list[RejectedCall]) -> None:
        if not rows:
            return
        try:
            self._store.insert_usage(rows)
        except StoreError as exc:
            if exc.retryable:
                raise
            if len(rows) == 1:
                refused.append(deadletter.of_row(rows[0], f"the store refused the row: {exc}"))
                return
            half = len(rows) // 2
            self._insert(rows[:half], refused)
            self._insert(rows[half:], refused)
            return
        self.counts.rows_written += len(rows)
        if self._on_stored is not None:
            self._on_stored(rows)

    def _dead_letter(self, rejected: list[RejectedCall]) -> None:
        if not rejected:
            return
        try:
            self._store.insert_columns(deadletter.TABLE, deadletter.COLUMNS, deadletter.to_columns(rejected))
        except StoreError as exc:
            if exc.retryable:
                raise
            # Text columns only: this cannot be the data's fault; say loudly what is lost rather than loop.
            for call in rejected:
                logger.error("dead letter not storable (%s): %s %s %s %s", exc, call.trace_id, call.span_id,
                             call.reason, call.span)
            return
        self.counts.rows_dead_lettered += len(rejected)
        for call in rejected[:5]:
            logger.warning("call %s/%s dead-lettered to %s: %s", call.trace_id, call.span_id, deadletter.TABLE,
                           call.reason)
        if len(rejected) > 5:
            logger.warning("... and %d more calls dead-lettered", len(rejected) - 5)
