"""What the receiver is doing, as numbers: counters the receivers keep, the store's insert timings, and
what the pipeline exposes; rendered in the Prometheus text exposition format (version 0.0.4).

No network here: receive/ops.py serves the text. The pipeline's figures are its `stats()` snapshot, named
by PIPELINE_FIGURES.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from otel_llmcost.errors import StoreError
from otel_llmcost.model import PipelineStats, UsageRow
from otel_llmcost.ops.ratelog import RateLimitedLog

logger = logging.getLogger(__name__)

#: metric name -> (PipelineStats field, type, help).
PIPELINE_FIGURES = {
    "llmcost_rows_written_total": ("rows_written", "counter", "Usage rows stored."),
    "llmcost_rows_already_stored_total": ("rows_already_stored", "counter", "Re-sent rows the store already had."),
    "llmcost_rows_adjusted_total": ("rows_adjusted", "counter", "Rows with a value clamped to fit its column."),
    "llmcost_rows_dead_lettered_total": ("rows_dead_lettered", "counter", "Calls written to rejected_calls."),
    "llmcost_spans_duplicate_total": ("duplicate_spans", "counter", "Re-sent spans acknowledged again."),
    "llmcost_spool_write_failures_total": ("spool_write_failures", "counter", "Spool writes that failed."),
    "llmcost_buffered_spans": ("buffered_spans", "gauge", "Spans waiting in the trace buffer."),
    "llmcost_buffered_bytes": (
        "buffered_bytes", "gauge", "Bytes of spans waiting in the trace buffer or, taken from it, for the store."),
    "llmcost_spans_written_total": ("spans_written", "counter", "Trace spans stored in otel_traces."),
    "llmcost_unsent_rows": ("unsent_rows", "gauge", "Priced rows waiting for the store."),
    "llmcost_oldest_unsent_age_seconds": (
        "oldest_unsent_seconds", "gauge", "Age of the oldest batch not stored yet (0: none waiting)."),
    "llmcost_oldest_unflushed_age_seconds": (
        "oldest_unflushed_seconds", "gauge", "Age of the oldest trace still in the buffer."),
    "llmcost_spool_bytes": ("spool_bytes", "gauge", "Bytes in spool segments not yet released."),
}
#: How long a batch may wait for the store before /readyz says storage stalled: above the flusher's longest
#: retry delay (30 s), so one failed retry of a store that recovers is not reported.
STALL_SECONDS = 60.0
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngestCounters:
    """What only the receivers see: spans their parsers left out, and exports refused as a whole (the
    pipeline counts the spans it was handed). Thread-safe: gRPC workers and the HTTP executor update it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.dropped_spans = 0  # left out by the parser (OTLP/JSON spans it could not read), rejected
        self.refused_requests: dict[str, int] = {}  # reason (bad_request, unauthenticated, ...) -> requests

    def dropped(self, spans: int) -> None:
        with self._lock:
            self.dropped_spans += spans

    def refused(self, reason: str) -> None:
        with self._lock:
            self.refused_requests[reason] = self.refused_requests.get(reason, 0) + 1


class MeasuredStore:
    """A store that times its inserts (usage rows, trace spans, dead letters: every table the writer fills),
    counts the failed ones, remembers whether the last one failed (for /readyz), and warns the first time
    each model is stored unpriced (its calls have no cost until a price book names it)."""

    def __init__(self, store: Any):
        self._store = store
        self._lock = threading.Lock()
        self.insert_seconds = [0] * (len(_LATENCY_BUCKETS) + 1)
        self.insert_seconds_sum = 0.0
        self.insert_failures = 0
        self.last_insert_error: str | None = None
        # An OpeningStore (store/opening.py): the wait for it to open is no insert's latency.
        self._wait_open: Callable[[], Any] | None = getattr(store, "wait_open", None)
        self._unpriced = RateLimitedLog(logger, interval_seconds=math.inf)  # once per model and run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def insert_usage(self, rows: Sequence[UsageRow], /) -> None:
        if not rows:  # the flusher's empty batches release spool segments; they are not inserts
            return
        self._timed(self._store.insert_usage, rows)
        for row in rows:
            if row.cost_status == "unpriced":
                model = f"{row.provider}/{row.request_model or row.response_model}"
                self._unpriced.warn_rarely(model, "model %s has no price: its calls are stored unpriced (%s)",
                                           model, row.cost_note)

    def insert_traces(self, columns: list[list], /) -> None:
        if columns and columns[0]:
            self._timed(self._store.insert_traces, columns)

    def insert_columns(self, table: str, column_types: Sequence[tuple[str, str]], columns: list[list], /,
                       dedup_token: str = "") -> None:
        self._timed(lambda: self._store.insert_columns(table, column_types, columns, dedup_token=dedup_token))

    def insert_native(self, table: str, names: Sequence[str], payload: bytes, dedup_token: str = "") -> None:
        """A Native block an ingest worker encoded (flush/handoff.py), into the embedded store."""
        self._timed(lambda: self._store.insert_native(table, names, payload, dedup_token))

    def _timed(self, insert: Callable[..., None], *args: Any) -> None:
        if self._wait_open is not None:
            try:
                self._wait_open()
            except StoreError:  # the store could not be opened: the insert below says so, counted as failed
                pass
        started = time.perf_counter()
        try:
            insert(*args)
        except Exception as exc:
            with self._lock:
                self.insert_failures += 1
                self.last_insert_error = str(exc)
            raise
        elapsed = time.perf_counter() - started
        with self._lock:
            self.insert_seconds[bisect.bisect_left(_LATENCY_BUCKETS, elapsed)] += 1
            self.insert_seconds_sum += elapsed
            self.last_insert_error = None


#: metric name -> (Forwarder.figures() destination field, type, help); labelled by destination.
FORWARD_DESTINATION_FIGURES = {
    "llmcost_forward_sent_items_total": ("sent_items", "counter",
                                         "Spans, metric points and log records a destination took."),
    "llmcost_forward_requests_total": ("sent_requests", "counter", "Exports a destination took."),
    "llmcost_forward_failed_attempts_total": ("failed_attempts", "counter", "Export attempts retried later."),
    "llmcost_forward_refused_items_total": ("refused_items", "counter", "Items in exports refused for good."),
    "llmcost_forward_rejected_items_total": ("rejected_items", "counter", "Items reported rejected (partial success)."),
    "llmcost_forward_dropped_items_total": ("dropped_items", "counter",
                                            "Items dropped unsent to keep the queue under its byte bound."),
    "llmcost_forward_queued_bytes": ("queued_bytes", "gauge", "Bytes of the queue a destination has still to read."),
    "llmcost_forward_last_success_timestamp_seconds": ("last_success", "gauge",
                                                       "When a destination last took an export."),
}
FORWARD_FIGURES = {
    "llmcost_forward_held_spans": ("held_spans", "gauge", "LLM call spans waiting for their price."),
    "llmcost_forward_passed_spans_total": ("passed_spans", "counter", "Spans queued to leave unchanged."),
    "llmcost_forward_priced_spans_total": ("priced_spans", "counter", "LLM call spans queued with their cost."),
    "llmcost_forward_stale_spans_total": ("stale_spans", "counter",
                                          "LLM call spans sent without a price, never priced."),
    "llmcost_forward_queue_bytes": ("queue_bytes", "gauge", "Bytes of the forward queue on disk."),
}


def exposition(counters: IngestCounters, store: MeasuredStore, stats: PipelineStats,
               forward: dict[str, Any] | None = None, cost: Any = None, store_open: bool | None = None) -> str:
    """The text exposition; `forward`: Forwarder.figures(); `cost`: ops.costmetrics.CostMetrics; `store_open`:
    whether the store is open yet (serve opens it after the receivers listen: store/opening.py)."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.extend((f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"))
        lines.extend(f"{name}{labels} {value:g}" if isinstance(value, float) else f"{name}{labels} {value}"
                     for labels, value in samples)

    metric("llmcost_spans_received_total", "counter", "Spans in exports that were decoded.",
           [("", stats.received_spans + counters.dropped_spans)])
    metric("llmcost_spans_rejected_total", "counter", "Spans refused one by one (partial success).",
           [("", stats.rejected_spans + counters.dropped_spans)])
    metric("llmcost_spans_acknowledged_total", "counter", "Spans acknowledged (on disk in the spool).",
           [("", stats.accepted_spans + stats.duplicate_spans)])
    metric("llmcost_requests_refused_total", "counter", "Exports refused as a whole, by reason.",
           [(f'{{reason="{reason}"}}', count) for reason, count in sorted(counters.refused_requests.items())])
    for name, (field, kind, help_text) in PIPELINE_FIGURES.items():
        metric(name, kind, help_text, [("", getattr(stats, field))])
    if store_open is not None:
        metric("llmcost_store_open", "gauge", "1 once the store is open and migrated; 0 while it opens (exports are "
               "acknowledged meanwhile, into the spool).", [("", int(store_open))])
    metric("llmcost_insert_failures_total", "counter",
           "Store inserts that failed, in any table (retried, or split to dead-letter the rows at fault).",
           [("", store.insert_failures)])
    cumulative, buckets = 0, []
    for bound, count in zip((*map(str, _LATENCY_BUCKETS), "+Inf"), store.insert_seconds, strict=True):
        cumulative += count
        buckets.append((f'_bucket{{le="{bound}"}}', cumulative))
    lines.extend(("# HELP llmcost_insert_seconds Time per store insert.", "# TYPE llmcost_insert_seconds histogram"))
    lines.extend(f"llmcost_insert_seconds{suffix} {count}" for suffix, count in buckets)
    lines.append(f"llmcost_insert_seconds_sum {store.insert_seconds_sum:.6f}")
    lines.append(f"llmcost_insert_seconds_count {cumulative}")
    if forward is not None:
        for name, (field, kind, help_text) in FORWARD_FIGURES.items():
            metric(name, kind, help_text, [("", forward[field])])
        for name, (field, kind, help_text) in FORWARD_DESTINATION_FIGURES.items():
            metric(name, kind, help_text, [(f'{{destination="{label_value(destination)}"}}', figures[field])
                                           for destination, figures in forward["destinations"].items()])
    if cost is not None:
        lines.extend(cost.prometheus_lines(label_value))
    return "\n".join(lines) + "\n"


def label_value(value: str) -> str:
    """A Prometheus label value, escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def readiness_problems(store: MeasuredStore, stats: PipelineStats, spool_dir: str,
                       spool_reserve_bytes: int) -> list[str]:
    """Why the receiver should not get traffic now; empty when ready. Besides a failed last insert, a batch
    unsent for longer than STALL_SECONDS: storage stalled for whatever reason, even one no insert reports."""
    problems = []
    if store.last_insert_error is not None:
        problems.append(f"store is not writable: {store.last_insert_error}")
    if stats.oldest_unsent_seconds > STALL_SECONDS:
        problems.append(f"storage stalled: {stats.unsent_rows} rows unsent for {stats.oldest_unsent_seconds:.0f}s")
    free = os.statvfs(spool_dir)
    if free.f_bavail * free.f_frsize < spool_reserve_bytes:
        problems.append(f"spool disk is full: under {spool_reserve_bytes} bytes free in {spool_dir}")
    return problems
