"""Released traces to rows: each trace's calls attributed, priced and checked against their columns; a call
that cannot be stored becomes a dead letter; the spans to keep become otel_traces columns.

One trace's failure (a bug on its data) dead-letters that trace's calls, never its neighbours'.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from otel_llmcost.ingest.tracebuffer import TraceGroup
from otel_llmcost.model import SpanRecord, UsageRow
from otel_llmcost.ops.ratelog import RateLimitedLog
from otel_llmcost.pricing import PriceBook
from otel_llmcost.rows import deadletter
from otel_llmcost.rows.attribution import Attributor
from otel_llmcost.rows.deadletter import RejectedCall
from otel_llmcost.rows.rowcheck import RowRejected, check_row, rows_to_check
from otel_llmcost.rows.traces import TraceColumns, TraceKeeper
from otel_llmcost.rows.usage import Attributed, attributed_calls, usage_rows
from otel_llmcost.semconv import extract_call

logger = logging.getLogger(__name__)
_rare = RateLimitedLog(logger)


@dataclass(slots=True)
class TraceRows:
    """What the released traces become."""

    rows: list[UsageRow]  # priced and checked
    rejected: list[RejectedCall]  # calls that cannot be stored: dead letters
    trace_rows: TraceColumns  # the spans to keep, as otel_traces columns


class RowBuilder:
    """Not thread-safe: the flusher's thread alone builds rows."""

    def __init__(self, attributor: Attributor, keeper: TraceKeeper, price_book: PriceBook,
                 max_trace_wait_seconds: float):
        self._attributor = attributor
        self._keeper = keeper
        self._price_book = price_book
        self._max_trace_wait = max_trace_wait_seconds
        self.rows_adjusted = 0  # rows with a value clamped, truncated or dropped to fit its column

    def build(self, groups: list[TraceGroup]) -> TraceRows:
        now = datetime.now(timezone.utc)
        rejected: list[RejectedCall] = []
        attributed: list[tuple[TraceGroup, list[Attributed]]] = []
        for group in groups:
            try:
                attributed.append((group, attributed_calls(group, self._attributor, self._price_book)))
            except Exception as exc:  # a bug on one trace's data must not stop every other trace being written
                self._dead_letter(group, exc, rejected)
        try:  # the whole batch priced at once
            priced = [(group, calls, rows) for (group, calls), rows in zip(attributed, _split(
                usage_rows([call for _, calls in attributed for call in calls], self._price_book, now),
                [len(calls) for _, calls in attributed]), strict=True)]
        except Exception:  # some trace's data meets a bug: price each trace alone, to dead-letter its calls only
            priced = []
            for group, calls in attributed:
                try:
                    priced.append((group, calls, usage_rows(calls, self._price_book, now)))
                except Exception as exc:
                    self._dead_letter(group, exc, rejected)
        built: list[UsageRow] = []
        spans: list[tuple[SpanRecord, str]] = []
        for group, calls, rows in priced:
            spans.extend(self._keeper.spans(group, {who.tenant_id for _, _, who in calls}))
            if group.timed_out and rows:
                _rare.warn_rarely("trace-without-root", "trace %s written without its root span after %.0fs:"
                                  " its %d calls miss what the root would have said (tenant, feature, request)",
                                  group.trace_id, self._max_trace_wait, len(rows))
            built.extend(rows)
        return TraceRows(self._checked(built, rejected), rejected, self._keeper.columns(spans))

    @staticmethod
    def _dead_letter(group: TraceGroup, exc: Exception, rejected: list[RejectedCall]) -> None:
        logger.exception("trace %s could not be priced; its calls are dead-lettered", group.trace_id)
        reason = f"the trace could not be priced: {type(exc).__name__}: {exc}"
        rejected.extend(deadletter.of_span(span, reason) for span in _call_spans(group))

    def _checked(self, built: list[UsageRow], rejected: list[RejectedCall]) -> list[UsageRow]:
        """The rows storable as they are, and those check_row makes storable; the rows it refuses go to
        `rejected`. Only the rows a column test finds are checked one by one."""
        suspects = rows_to_check(built)
        if not suspects:
            return built
        rows = []
        for index, row in enumerate(built):
            if index not in suspects:
                rows.append(row)
                continue
            note = row.cost_note
            try:
                rows.append(check_row(row))
            except RowRejected as exc:
                rejected.append(deadletter.of_row(row, str(exc)))
                continue
            self.rows_adjusted += row.cost_note != note
        return rows


def _call_spans(group: TraceGroup) -> list[SpanRecord]:
    """The spans of the group that are (or may be) LLM calls: what a failed trace dead-letters."""
    found = []
    for span in group.spans:
        if span.span_id in group.calls:
            is_call = group.calls[span.span_id] is not None
        else:  # replayed from the spool: read it again
            try:
                is_call = extract_call(span) is not None
            except Exception:  # unreadable: keep it, it may be one
                is_call = True
        if is_call:
            found.append(span)
    return found


def _split(rows: list[UsageRow], sizes: list[int]) -> list[list[UsageRow]]:
    """`rows` cut into consecutive parts of these sizes."""
    parts, start = [], 0
    for size in sizes:
        parts.append(rows[start:start + size])
        start += size
    return parts
