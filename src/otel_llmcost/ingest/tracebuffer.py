"""Holds spans grouped by trace until the trace can be attributed.

Children end, and so are exported, before their parents: the span carrying the tenant or feature often
arrives after the LLM call beneath it, possibly long after (a request that keeps working after its LLM
call). So a trace is released:
- as soon as its root span has arrived, or, when it holds an LLM call, once it has also been idle `settle`
  seconds: another service's spans of the same call (an LLM proxy's, from its own exporter, which sends
  every few seconds) may arrive after the app's root, and they must meet the app's span in one release
  for the call to be merged into one row (rows/dedupe.py);
- without its root, after `wait` idle seconds, if every span whose parent we lack is a service entry span
  (SERVER or CONSUMER kind): its parent lives in another service that does not export to us, so nothing is
  coming (a rooted trace misses no parent: this rule would cut its settle short);
- in any case `max_wait` seconds after its first span.

Released traces stay in a `recent` cache bounded by bytes, so a late span (another service's exporter, a
retry of an export, the other half of a trace that two exports split) still finds its ancestors. (That a
re-sent span is not stored twice does not depend on this cache: the flusher asks the store.) A late part
takes its trace's entry out of the cache when it arrives, so the ancestors stay with it until it is
released however much else passes meanwhile, and with them its trace's state (TraceState): a part of a
trace whose root came earlier is rooted too, so it is released as any rooted trace is (at once, or after
settling when it holds a call), not after `wait` or `max_wait`; and what rows/traces.py kept of the trace
tells it how to keep the late part.

Sizes are counted in bytes, approximately: each span is charged its share of its export's spool line, plus
a fixed cost for its Python objects (a decoded span takes ~1.9 KB of memory for ~350 bytes of JSON:
bench/overload_rss.py).
Everything here is linear in the spans added or released; nothing scans a trace per span.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from otel_llmcost.model import LlmCall, SpanRecord

_SPAN_OBJECT_BYTES = 1024  # what a SpanRecord and its dicts cost beyond their encoded size
_ENTRY_KINDS = frozenset({2, 5})  # SPAN_KIND_SERVER, SPAN_KIND_CONSUMER: their parent may be remote


@dataclass(slots=True)
class TraceState:
    """What the released parts of a trace left, shared by them and its entry in the recent cache. `rooted` is
    set by the buffer; the row builder alone (the flusher's thread) reads and sets the rest."""

    rooted: bool = False  # its root span was released
    kept: bool = False  # some of its spans were taken for storing (rows/traces.py)
    tenants: frozenset[str] = frozenset()  # those its calls were charged to so far


_Released = tuple[dict[str, SpanRecord], int, TraceState]  # a recent trace's spans, their bytes, its state


@dataclass(slots=True)
class _PendingTrace:
    first_seen: float
    last_seen: float
    spans: dict[str, SpanRecord] = field(default_factory=dict)
    earlier: dict[str, SpanRecord] = field(default_factory=dict)  # released before, taken out of the recent cache
    earlier_size: int = 0
    state: TraceState = field(default_factory=TraceState)
    calls: dict[str, LlmCall | None] = field(default_factory=dict)  # extracted at ingest, by span id
    segments: set[int] = field(default_factory=set)
    has_root: bool = False  # here, or released before (state.rooted)
    has_call: bool = False  # a span extracted as an LLM call at ingest
    size: int = 0  # approximate bytes


@dataclass(frozen=True, slots=True)
class TraceGroup:
    """Spans of one trace released together; `context` also holds earlier released spans of the trace, and
    `state` what its earlier releases left."""

    trace_id: str
    spans: tuple[SpanRecord, ...]
    calls: Mapping[str, LlmCall | None]  # what ingest already extracted; replayed spans are not in it
    context: Mapping[str, SpanRecord]
    segments: frozenset[int]
    timed_out: bool = False  # released without its root (and not for a remote parent): attribution may lack it
    size: int = 0  # approximate bytes of its spans, counted against the buffer's cap until stored
    state: TraceState = field(default_factory=TraceState)

    def receipt(self) -> TraceGroup:
        """What releasing the trace once it is stored needs (its id, segments and size), without its spans:
        a flusher waiting for the store holds rows, not the spans they were built from too."""
        return replace(self, spans=(), calls={}, context={})


class TraceBuffer:
    """Not thread-safe: ingest/admit.py serialises access."""

    def __init__(self, wait: float, max_wait: float, recent_max_bytes: int = 64 * 1024 * 1024,
                 clock: Callable[[], float] = time.monotonic, settle: float = 0.0):
        self._wait = wait
        self._settle = settle
        self._max_wait = max_wait
        self._recent_max_bytes = recent_max_bytes
        self._clock = clock
        self._pending: dict[str, _PendingTrace] = {}
        self._recent: OrderedDict[str, _Released] = OrderedDict()
        self._recent_bytes = 0
        self.span_count = 0
        self.buffered_bytes = 0  # approximate size of the pending spans

    def new_spans(self, spans: Sequence[SpanRecord]) -> list[int]:
        """Indexes of the spans not buffered or recently released (nor repeated earlier in `spans`)."""
        fresh, seen = [], set()
        for index, span in enumerate(spans):
            key = (span.trace_id, span.span_id)
            trace = self._pending.get(span.trace_id)
            recent = self._recent.get(span.trace_id)
            if key in seen or (trace is not None and (span.span_id in trace.spans or span.span_id in trace.earlier)
                               ) or (recent is not None and span.span_id in recent[0]):
                continue
            seen.add(key)
            fresh.append(index)
        return fresh

    def holds_any(self, trace_ids: Iterable[str]) -> bool:
        """Whether any of these traces is pending or in the recent cache."""
        return any(trace_id in self._pending or trace_id in self._recent for trace_id in trace_ids)

    def add(self, spans: Sequence[SpanRecord], segment: int, size: int = 0,
            calls: Sequence[LlmCall | None] | None = None, age: float = 0.0) -> None:
        """Buffer spans that new_spans() found new (with the calls extracted from them, if known); `size`:
        their encoded bytes, all together; `age`: seconds since they arrived (spans replayed from the spool
        after a restart: their trace's wait goes on from then)."""
        now = self._clock() - age
        share = (size // len(spans) if spans else 0) + _SPAN_OBJECT_BYTES
        for index, span in enumerate(spans):
            trace = self._pending.get(span.trace_id)
            if trace is None:
                trace = self._pending[span.trace_id] = self._pending_trace(span.trace_id, now)
            elif span.span_id in trace.spans:  # a replayed spool may hold a span twice
                continue
            trace.spans[span.span_id] = span
            if calls is not None:
                trace.calls[span.span_id] = calls[index]
                trace.has_call = trace.has_call or calls[index] is not None
            trace.last_seen = max(trace.last_seen, now)
            trace.segments.add(segment)
            trace.has_root = trace.has_root or not span.parent_span_id
            trace.size += share
            self.span_count += 1
            self.buffered_bytes += share

    def _pending_trace(self, trace_id: str, now: float) -> _PendingTrace:
        """A new pending trace, holding what its released parts left in the recent cache (taken out of it:
        they stay with the trace, counted in its bytes, until it is released)."""
        trace = _PendingTrace(now, now)
        if (recent := self._recent.pop(trace_id, None)) is not None:
            trace.earlier, trace.earlier_size, trace.state = recent
            trace.has_root = trace.state.rooted
            self._recent_bytes -= trace.earlier_size
            self.buffered_bytes += trace.earlier_size
        return trace

    def oldest_age(self) -> float:
        """Seconds since the first span of the oldest pending trace arrived (0 when none is pending)."""
        now = self._clock()
        return now - min((trace.first_seen for trace in self._pending.values()), default=now)

    def take_ready(self, everything: bool = False, closing: bool = False) -> list[TraceGroup]:
        """Release traces that are complete or waited long enough (all of them when `everything`; when
        `closing`, also every trace with its root that has not settled yet: a stop does not wait for them)."""
        now = self._clock()
        ready = [
            trace_id
            for trace_id, trace in self._pending.items()
            if everything
            or (trace.has_root and (closing or not trace.has_call or now - trace.last_seen >= self._settle))
            or now - trace.first_seen >= self._max_wait
            or (not trace.has_root and now - trace.last_seen >= self._wait and self._only_remote_parents_missing(trace))
        ]
        groups = []
        for trace_id in ready:
            trace = self._pending.pop(trace_id)
            self.span_count -= len(trace.spans)
            self.buffered_bytes -= trace.size + trace.earlier_size
            context = {**trace.earlier, **trace.spans}
            timed_out = not trace.has_root and not self._only_remote_parents_missing(trace)
            trace.state.rooted = trace.has_root
            groups.append(TraceGroup(trace_id, tuple(trace.spans.values()), trace.calls, context,
                                     frozenset(trace.segments), timed_out, trace.size, trace.state))
            self._remember(trace_id, (context, trace.earlier_size + trace.size, trace.state))
        return groups

    @staticmethod
    def _only_remote_parents_missing(trace: _PendingTrace) -> bool:
        return all(
            span.kind in _ENTRY_KINDS
            for span in trace.spans.values()
            if span.parent_span_id not in trace.spans and span.parent_span_id not in trace.earlier
        )

    def _remember(self, trace_id: str, entry: _Released) -> None:
        self._recent[trace_id] = entry
        self._recent_bytes += entry[1]
        while self._recent_bytes > self._recent_max_bytes and self._recent:
            _, (_, evicted_size, _) = self._recent.popitem(last=False)
            self._recent_bytes -= evicted_size
