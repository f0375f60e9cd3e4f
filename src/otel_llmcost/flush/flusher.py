"""The flusher: a thread that, every interval, takes the traces ready in the buffer and has them turned into
rows, and one that writes them in batches of at most `batch_max_rows`. The two overlap: the store's work on
a batch (chDB runs without the GIL) goes on while the next one is built, and a cycle that takes longer than
the interval is followed at once, not after another interval. The builder stays at most _AHEAD batches
ahead of a store that is keeping up, so what waits built stays small.

Batches that fail for the store's sake stay in the unsent list and are retried with backoff (doubling up to
30 s, jittered so that workers failing together do not retry together); their traces' spool entries are
released only once the last batch holding their rows is stored. The unsent list is guarded by its lock
(stats() reads it from other threads); only one thread sends at a time: the sender, or the closing one once
both threads have stopped.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from otel_llmcost.errors import StoreError
from otel_llmcost.flush.storedlog import StoredLog
from otel_llmcost.flush.writer import BatchWriter
from otel_llmcost.ingest.tracebuffer import TraceGroup
from otel_llmcost.model import UsageRow
from otel_llmcost.rows.build import TraceRows
from otel_llmcost.rows.deadletter import RejectedCall
from otel_llmcost.rows.traces import TraceColumns

logger = logging.getLogger(__name__)

_MAX_RETRY_DELAY = 30.0
_AHEAD = 2  # batches built and not sent, beyond which the builder waits for the sender (while the store works)


class TraceSource(Protocol):
    """Where released traces come from, and where their stored state is reported (ingest.admit.Admission)."""

    def take_ready(self, everything: bool, closing: bool = False) -> list[TraceGroup]: ...

    def release(self, groups: list[TraceGroup]) -> None: ...


@dataclass(slots=True)
class _Batch:
    rows: list[UsageRow]
    rejected: list[RejectedCall]  # dead letters to store with this batch
    release: list[TraceGroup]  # traces whose spool entries can go once this batch is stored
    spans: TraceColumns | None = None  # otel_traces spans (rows/traces.py), stored first
    queued_at: float = 0.0  # time.monotonic() when built


class Flusher:
    def __init__(self, source: TraceSource, build: Callable[[list[TraceGroup]], TraceRows], writer: BatchWriter,
                 interval_seconds: float, batch_max_rows: int):
        self._source = source
        self._build = build
        self._writer = writer
        self._interval = interval_seconds
        self._batch_max_rows = batch_max_rows
        self._lock = threading.Lock()
        self._unsent: list[_Batch] = []
        self._unsent_rows = 0
        self._stored_log = StoredLog()
        self._retry_at = 0.0
        self._retry_delay = 1.0
        self._stop = threading.Event()
        self._queued = threading.Event()  # set by the builder when it queued batches, and by close()
        self._sent = threading.Event()  # set by the sender when it stored one, and by close()
        self._thread = threading.Thread(target=self._run, name="llmcost-flusher", daemon=True)
        self._sender = threading.Thread(target=self._send_loop, name="llmcost-sender", daemon=True)

    @property
    def unsent_rows(self) -> int:
        """Rows built but not stored yet (the store is failing, or the batch is being written)."""
        with self._lock:
            return self._unsent_rows

    @property
    def oldest_unsent_seconds(self) -> float:
        """How long the first unsent batch has waited (0.0 when none waits): a stalled store shows here."""
        with self._lock:
            return time.monotonic() - self._unsent[0].queued_at if self._unsent else 0.0

    def start(self) -> None:
        self._thread.start()
        self._sender.start()

    def close(self) -> None:
        """Stop the threads, write the traces that are ready, try the unsent batches a last few times."""
        self._stop.set()
        self._queued.set()
        self._sent.set()
        for thread in (self._thread, self._sender):
            if thread.is_alive():
                thread.join()
        self.flush(everything=False, closing=True)
        for attempt in range(3):
            if not self._unsent:
                break
            time.sleep(attempt)
            self._send_unsent()
        if self._unsent:
            logger.error("%d rows could not be stored; they stay in the spool for the next start", self.unsent_rows)
        self._stored_log.close()

    def _run(self) -> None:
        """The builder: every interval (from one cycle's start to the next), the ready traces' rows queued."""
        due = time.monotonic() + self._interval
        while not self._stop.wait(max(due - time.monotonic(), 0.0)):
            while len(self._unsent) >= _AHEAD and time.monotonic() >= self._retry_at and not self._stop.is_set():
                self._sent.wait(self._interval)  # the store keeps up: let it catch up before building more
                self._sent.clear()
            due = time.monotonic() + self._interval
            try:
                self._queue(self._source.take_ready(everything=False))
            except Exception:  # the flusher must outlive any one bad batch
                logger.exception("flush failed")

    def _send_loop(self) -> None:
        """The sender: the queued batches stored, in order, as soon as they are queued (or due again)."""
        while not self._stop.is_set():
            self._queued.wait(self._interval)
            self._queued.clear()
            if self._stop.is_set():
                break  # close() sends what is left
            try:
                if self._unsent and time.monotonic() >= self._retry_at:
                    self._send_unsent()
            except Exception:  # the sender must outlive any one bad batch
                logger.exception("flush failed")

    def flush(self, everything: bool, closing: bool = False) -> None:
        """Build and queue the rows of the ready traces (all traces when `everything`; when `closing`, also
        those with their root that are still settling); send what is due. Only once both threads stopped."""
        self._queue(self._source.take_ready(everything, closing))
        if self._unsent and (everything or time.monotonic() >= self._retry_at):
            self._send_unsent()

    def _queue(self, groups: list[TraceGroup]) -> None:
        if groups:
            built = self._build(groups)
            groups = [group.receipt() for group in groups]  # the spans can go: rows were built from them
            rows, limit = built.rows, self._batch_max_rows
            parts = [rows[i:i + limit] for i in range(0, len(rows), limit)] or [[]]
            # The traces' spool segments are released only after the last of their batches is stored.
            batches, now = [], time.monotonic()
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                batches.append(_Batch(part, built.rejected if last else [], groups if last else [],
                                      built.trace_rows if index == 0 else None, now))
            with self._lock:
                self._unsent.extend(batches)
                self._unsent_rows += len(rows)
            self._queued.set()

    def _send_unsent(self) -> None:
        while self._unsent:
            batch = self._unsent[0]  # only this thread removes batches: the first stays the first
            try:
                self._writer.write(batch.rows, batch.rejected, batch.spans)
            except StoreError as exc:
                # Jittered (half to all of the delay): workers that failed together do not retry together.
                delay = self._retry_delay * (0.5 + random.random() / 2)
                self._retry_at = time.monotonic() + delay
                logger.warning("insert of %d rows failed, retrying in %.1fs: %s", len(batch.rows), delay, exc)
                self._retry_delay = min(self._retry_delay * 2, _MAX_RETRY_DELAY)
                return
            with self._lock:
                self._unsent.pop(0)
                self._unsent_rows -= len(batch.rows)
            self._retry_delay = 1.0
            self._source.release(batch.release)
            self._stored_log.add(batch.rows, len(batch.rejected))
            self._sent.set()
