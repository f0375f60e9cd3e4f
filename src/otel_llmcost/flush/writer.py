"""Writes one batch of rows: each call stored once, a bad row never holding back the others, in any table.

- Calls already in llm_usage are left out (an export re-sent after a restart or after the buffer forgot it,
  a spool replayed after a crash): one indexed lookup per batch. This also makes a retried batch safe when
  part of it was stored before the failure.
- Each table's rows go in INSERTs of at most MAX_PARTITIONS partitions (a backfill's calls spread over
  months, its spans over days): the engine refuses an INSERT touching more than
  max_partitions_per_insert_block (100), and the refusal would be retried for ever.
- A retryable store failure (down, slow, full) is raised to the caller, which keeps the batch and its spool
  segments and tries again later. A disk too full for an INSERT is tried with halves first: after a disk
  filled, the backlog's batch can be larger than the disk ever has free, and would wait for ever.
- A permanent one (the data's fault) splits the INSERT in halves, recursively, until the rows at fault are
  alone; in every table (otel_traces, llm_usage and with it the rollups its views fill): those go to the
  dead-letter table, the rest is stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from otel_llmcost.errors import StoreError, StoreFullError
from otel_llmcost.flush import queries
from otel_llmcost.model import UsageRow
from otel_llmcost.rows import deadletter
from otel_llmcost.rows.deadletter import RejectedCall
from otel_llmcost.rows.traces import TraceColumns
from otel_llmcost.store import WritableStore, sql_time

logger = logging.getLogger(__name__)

#: Partitions one INSERT may touch: half the engine's default max_partitions_per_insert_block, as the
#: views' targets partition alike (monthly) or coarser.
MAX_PARTITIONS = 50
#: otel_traces rows per INSERT at most: the engine holds an INSERT's block several times over while it sorts
#: it, fills six skip indexes and writes two attribute maps (~6 KB per span at peak); 50k spans took the
#: embedded store's RSS up ~420 MB, 10k ~70 MB (NOTES-17).
SPAN_INSERT_ROWS = 10_000
_NS_PER_DAY = 86_400 * 10 ** 9
Row = TypeVar("Row")
Part = TypeVar("Part", list, TraceColumns)  # the rows of one INSERT


@dataclass(slots=True)
class WriterCounts:
    rows_written: int = 0
    rows_already_stored: int = 0  # left out: the store had them
    rows_dead_lettered: int = 0
    spans_written: int = 0  # otel_traces rows
    lookup_seconds_total: float = 0.0  # asking the store which calls it has


class BatchWriter:
    def __init__(self, store: WritableStore, on_stored: Callable[[Sequence[UsageRow]], None] | None = None,
                 max_rows: int = 50_000):
        self._store = store
        self._on_stored = on_stored  # told of the rows each successful insert stored (cost metrics)
        self._max_rows = max_rows  # per INSERT, in every table
        self.counts = WriterCounts()

    def write(
        self, rows: Sequence[UsageRow], rejected: Sequence[RejectedCall], spans: TraceColumns | None = None
    ) -> None:
        """Store the trace spans (otel_traces rows, deduplicated by the store), the rows not stored yet and
        the dead letters; raises StoreError (retryable) to be called again later with the same arguments."""
        refused: list[RejectedCall] = []

        def refuse_span(span: TraceColumns, exc: StoreError) -> None:
            refused.append(deadletter.of_trace_span(span.row(0), f"otel_traces refused the span: {exc}"))

        def refuse_row(row: list[UsageRow], exc: StoreError) -> None:
            refused.append(deadletter.of_row(row[0], f"the store refused the row: {exc}"))

        for span_part in _span_parts(spans, min(self._max_rows, SPAN_INSERT_ROWS)) if spans is not None else []:
            self.counts.spans_written += self._isolate(
                lambda part: self._store.insert_traces(part.copy()), span_part, refuse_span)
        fresh = self._not_stored(rows)
        self.counts.rows_already_stored += len(rows) - len(fresh)
        for usage_rows in by_partition(fresh, _usage_month, self._max_rows):
            self.counts.rows_written += self._isolate(self._insert_usage, usage_rows, refuse_row)
        self._dead_letter([*rejected, *refused])

    def _insert_usage(self, rows: list[UsageRow]) -> None:
        self._store.insert_usage(rows)
        if self._on_stored is not None:
            self._on_stored(rows)

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

    def _isolate(self, insert: Callable[[Part], None], rows: Part, refuse: Callable[[Part, StoreError], None]) -> int:
        """Insert `rows`; on the data's fault, halves until the rows at fault are alone and `refuse`d (as a part
        of one row). Returns the rows stored; raises a retryable StoreError."""
        if not rows:
            return 0
        try:
            insert(rows)
        except StoreError as exc:
            if exc.retryable and not (isinstance(exc, StoreFullError) and len(rows) > 1):
                raise
            if len(rows) == 1:
                refuse(rows, exc)
                return 0
            half = len(rows) // 2
            return self._isolate(insert, rows[:half], refuse) + self._isolate(insert, rows[half:], refuse)
        return len(rows)

    def _dead_letter(self, rejected: list[RejectedCall]) -> None:
        def lost(calls: list[RejectedCall], exc: StoreError) -> None:  # checked values: a bug, said loudly
            call = calls[0]
            logger.error("dead letter not storable (%s): %s %s %s %s", exc, call.trace_id, call.span_id,
                         call.reason, call.span[:10_000])

        stored = self._isolate(lambda calls: self._store.insert_columns(
            deadletter.TABLE, deadletter.COLUMNS, deadletter.to_columns(calls)), rejected, lost)
        self.counts.rows_dead_lettered += stored
        for call in rejected[:5]:
            logger.warning("call %s/%s dead-lettered to %s: %s", call.trace_id, call.span_id, deadletter.TABLE,
                           call.reason)
        if len(rejected) > 5:
            logger.warning("... and %d more calls dead-lettered", len(rejected) - 5)


def by_partition(rows: Sequence[Row], partition: Callable[[Row], Hashable], max_rows: int) -> list[list[Row]]:
    """The rows in INSERTs of at most MAX_PARTITIONS partitions and `max_rows` rows each (in order when
    they span few partitions)."""
    groups: dict[Hashable, list[Row]] = {}
    for row in rows:
        groups.setdefault(partition(row), []).append(row)
    if len(groups) <= MAX_PARTITIONS:
        parts = [list(rows)] if rows else []
    else:
        keys = sorted(groups)  # type: ignore[type-var]  # days and months: ints and tuples of ints
        parts = [[row for key in keys[i:i + MAX_PARTITIONS] for row in groups[key]]
                 for i in range(0, len(keys), MAX_PARTITIONS)]
    return [part[i:i + max_rows] for part in parts for i in range(0, len(part), max_rows)]


def _span_parts(spans: TraceColumns, max_rows: int) -> list[TraceColumns]:
    """The spans in INSERTs as by_partition makes them (otel_traces: PARTITION BY toDate(Timestamp))."""
    days = [start // _NS_PER_DAY for start in spans.columns[0]]
    parts = by_partition(range(len(days)), days.__getitem__, max_rows)
    if len(parts) == 1 and len(parts[0]) == len(days):
        return [spans]  # the usual batch: one INSERT as it was built
    return [spans.take(indexes) for indexes in parts]


def _usage_month(row: UsageRow) -> tuple[int, int]:
    return row.ts.year, row.ts.month  # llm_usage and every rollup: PARTITION BY toYYYYMM



