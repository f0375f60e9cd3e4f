"""What the receiver is doing, as numbers: counters the receivers keep, the store's insert timings, and
what the pipeline exposes; rendered in the Prometheus text exposition format (version 0.0.4).

No network here: receive/ops.py serves the text. The pipeline's figures are read through PIPELINE_FIGURES,
attribute by attribute, so a figure appears as soon as the pipeline has the attribute.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from otel_llmcost.model import UsageRow

#: metric name -> (Pipeline attribute, type, help). Absent attributes are skipped, not shown as 0.
PIPELINE_FIGURES = {
    "llmcost_rows_written_total": ("rows_written", "counter", "Usage rows stored."),
    "llmcost_rows_dead_lettered_total": ("rows_dead_lettered", "counter", "Calls written to rejected_calls."),
    "llmcost_buffered_bytes": ("buffered_bytes", "gauge", "Bytes of spans waiting in the trace buffer."),
    "llmcost_oldest_unflushed_age_seconds": (
        "oldest_unflushed_age_seconds", "gauge", "Age of the oldest acknowledged span not yet stored."),
}
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngestCounters:
    """Spans as the receivers saw them; thread-safe (gRPC workers and the HTTP executor update them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = self.rejected = self.acknowledged = 0
        self.refused_requests: dict[str, int] = {}  # reason (bad_request, unauthenticated, ...) -> requests

    def accepted(self, acknowledged: int, rejected: int) -> None:
        with self._lock:
            self.received += acknowledged + rejected
            self.acknowledged += acknowledged
            self.rejected += rejected

    def refused(self, reason: str) -> None:
        with self._lock:
            self.refused_requests[reason] = self.refused_requests.get(reason, 0) + 1


class MeasuredStore:
    """A UsageStore that times its inserts and remembers whether the last one failed (for /readyz)."""

    def __init__(self, store: Any):
        self._store = store
        self._lock = threading.Lock()
        self.insert_seconds = [0] * (len(_LATENCY_BUCKETS) + 1)
        self.insert_seconds_sum = 0.0
        self.insert_failures = 0
        self.last_insert_error: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def insert_usage(self, rows: Sequence[UsageRow], /) -> None:
        if not rows:  # the pipeline's empty batches release spool segments; they are not inserts
            self._store.insert_usage(rows)
            return
        started = time.perf_counter()
        try:
            self._store.insert_usage(rows)
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


def spool_bytes(spool_dir: str) -> int:
    total = 0
    for path in Path(spool_dir).glob("*.jsonl"):
        try:
            total += path.stat().st_size
        except FileNotFoundError:  # released meanwhile
            pass
    return total


def exposition(counters: IngestCounters, store: MeasuredStore, pipeline: Any, spool_dir: str) -> str:
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.extend((f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"))
        lines.extend(f"{name}{labels} {value:g}" if isinstance(value, float) else f"{name}{labels} {value}"
                     for labels, value in samples)

    metric("llmcost_spans_received_total", "counter", "Spans in exports that were decoded.",
           [("", counters.received)])
    metric("llmcost_spans_rejected_total", "counter", "Spans refused one by one (partial success).",
           [("", counters.rejected)])
    metric("llmcost_spans_acknowledged_total", "counter", "Spans acknowledged (on disk in the spool).",
           [("", counters.acknowledged)])
    metric("llmcost_requests_refused_total", "counter", "Exports refused as a whole, by reason.",
           [(f'{{reason="{reason}"}}', count) for reason, count in sorted(counters.refused_requests.items())])
    for name, (attribute, kind, help_text) in PIPELINE_FIGURES.items():
        value = getattr(pipeline, attribute, None)
        if value is not None:
            metric(name, kind, help_text, [("", value)])
    metric("llmcost_spool_bytes", "gauge", "Bytes in spool segments not yet released.",
           [("", spool_bytes(spool_dir))])
    metric("llmcost_insert_failures_total", "counter", "Store inserts that failed (and are retried).",
           [("", store.insert_failures)])
    cumulative, buckets = 0, []
    for bound, count in zip((*map(str, _LATENCY_BUCKETS), "+Inf"), store.insert_seconds):
        cumulative += count
        buckets.append((f'_bucket{{le="{bound}"}}', cumulative))
    lines.extend(("# HELP llmcost_insert_seconds Time per store insert.", "# TYPE llmcost_insert_seconds histogram"))
    lines.extend(f"llmcost_insert_seconds{suffix} {count}" for suffix, count in buckets)
    lines.append(f"llmcost_insert_seconds_sum {store.insert_seconds_sum:.6f}")
    lines.append(f"llmcost_insert_seconds_count {cumulative}")
    return "\n".join(lines) + "\n"


def readiness_problems(store: MeasuredStore, spool_dir: str, spool_reserve_bytes: int) -> list[str]:
    """Why the receiver should not get traffic now; empty when ready."""
    problems = []
    if store.last_insert_error is not None:
        problems.append(f"store is not writable: {store.last_insert_error}")
    free = os.statvfs(spool_dir)
    if free.f_bavail * free.f_frsize < spool_reserve_bytes:
        problems.append(f"spool disk is full: under {spool_reserve_bytes} bytes free in {spool_dir}")
    return problems
