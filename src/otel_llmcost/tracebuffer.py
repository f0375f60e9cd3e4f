"""Holds spans grouped by trace until the trace can be attributed.

Children end, and so are exported, before their parents: the span carrying the tenant or feature often
arrives after the LLM call beneath it, possibly long after (a request that keeps working after its LLM
call). So a trace is released:
- as soon as its root span has arrived;
- after `wait` idle seconds, if every span whose parent we lack is a service entry span (SERVER or
  CONSUMER kind): its parent lives in another service that does not export to us, so nothing is coming;
- in any case `max_wait` seconds after its first span.

Released traces stay in a bounded `recent` cache, so a late span (another service's exporter, a retry of
an export) still finds its ancestors and is not counted twice.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from otel_llmcost.model import LlmCall, SpanRecord

_RECENT_MAX_SPANS = 500_000
_ENTRY_KINDS = frozenset({2, 5})  # SPAN_KIND_SERVER, SPAN_KIND_CONSUMER: their parent may be remote


@dataclass(slots=True)
class _PendingTrace:
    first_seen: float
    last_seen: float
    spans: dict[str, SpanRecord] = field(default_factory=dict)
    calls: dict[str, LlmCall | None] = field(default_factory=dict)  # extracted at ingest, by span id
    segments: set[int] = field(default_factory=set)
    has_root: bool = False
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class TraceGroup:
    """Spans of one trace released together; `context` also holds earlier released spans of the trace."""

    trace_id: str
    spans: tuple[SpanRecord, ...]
    calls: Mapping[str, LlmCall | None]  # what ingest already extracted; replayed spans are not in it
    context: Mapping[str, SpanRecord]
    segments: frozenset[int]
    replayed: bool


class TraceBuffer:
    """Not thread-safe: the pipeline serialises access."""

    def __init__(self, wait: float, max_wait: float, clock: Callable[[], float] = time.monotonic):
        self._wait = wait
        self._max_wait = max_wait
        self._clock = clock
        self._pending: dict[str, _PendingTrace] = {}
        self._recent: OrderedDict[str, dict[str, SpanRecord]] = OrderedDict()
        self._recent_spans = 0
        self.span_count = 0

    def add(
        self, spans: Sequence[SpanRecord], segment: int, replayed: bool = False,
        calls: Sequence[LlmCall | None] | None = None,
    ) -> list[SpanRecord]:
        """Buffer spans (with the calls extracted from them, if known); returns the new ones (duplicates
        of buffered or recent spans are dropped)."""
        now = self._clock()
        added = []
        for index, span in enumerate(spans):
            trace = self._pending.get(span.trace_id)
            if trace is not None and span.span_id in trace.spans:
                continue
            recent = self._recent.get(span.trace_id)
            if recent is not None and span.span_id in recent:
                continue
            if trace is None:
                trace = self._pending[span.trace_id] = _PendingTrace(now, now)
            trace.spans[span.span_id] = span
            if calls is not None:
                trace.calls[span.span_id] = calls[index]
            trace.last_seen = now
            trace.segments.add(segment)
            trace.has_root = trace.has_root or not span.parent_span_id
            trace.replayed = trace.replayed or replayed
            added.append(span)
        self.span_count += len(added)
        return added

    def take_ready(self, everything: bool = False) -> list[TraceGroup]:
        """Release traces that are complete or waited long enough (all of them when `everything`)."""
        now = self._clock()
        ready = [
            trace_id
            for trace_id, trace in self._pending.items()
            if everything
            or trace.has_root
            or now - trace.first_seen >= self._max_wait
            or (now - trace.last_seen >= self._wait and self._only_remote_parents_missing(trace_id, trace))
        ]
        groups = []
        for trace_id in ready:
            trace = self._pending.pop(trace_id)
            self.span_count -= len(trace.spans)
            earlier = self._recent.pop(trace_id, {})
            context = {**earlier, **trace.spans}
            groups.append(
                TraceGroup(trace_id, tuple(trace.spans.values()), trace.calls, context, frozenset(trace.segments),
                           trace.replayed)
            )
            self._remember(trace_id, earlier, context)
        return groups

    def _only_remote_parents_missing(self, trace_id: str, trace: _PendingTrace) -> bool:
        earlier = self._recent.get(trace_id, {})
        return all(
            span.kind in _ENTRY_KINDS
            for span in trace.spans.values()
            if span.parent_span_id not in trace.spans and span.parent_span_id not in earlier
        )

    def _remember(self, trace_id: str, earlier: dict, context: dict) -> None:
        self._recent_spans += len(context) - len(earlier)
        self._recent[trace_id] = context
        while self._recent_spans > _RECENT_MAX_SPANS and self._recent:
            _, evicted = self._recent.popitem(last=False)
            self._recent_spans -= len(evicted)
