"""Request traces: the spans of traces that hold an LLM call, as rows of the Collector's `otel_traces`.

Grafana's trace view then opens a request's whole trace (app span, LLM calls, tools, retries) by trace id,
through `otel_traces_trace_id_ts` (a view keeps it). `traces.keep`: llm (default: traces with a priced
call), all, or none. Attributes: decode keeps only what pricing and attribution read, so with traces on,
`wanted` widens the decode filter to every attribute; each span keeps at most `max_attributes` of them
(resource likewise), values cut to `max_attribute_bytes` (prompts and completions can be megabytes).
Span events and links are not decoded by the pipeline, so their columns stay empty.

Every value is checked against its column (rows/columncheck.py) like a usage row's: a start time outside
the times the store keeps (a clock in 2300) becomes the ingestion time, a negative duration 0; what was
changed is said in SpanAttributes[NOTE_ATTRIBUTE].

Every stored span carries the tenant its trace's calls are charged to in SpanAttributes[TENANT_ATTRIBUTE]
(empty when the trace has no call, or calls of several tenants, or when the span came with another tenant's
ingest key): the query listener scopes a tenant key's reads of otel_traces by it. What a client sent under
that key is overwritten, so it cannot be forged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice

from otel_llmcost.config import AUTH_TENANT_KEY, TracesSettings
from otel_llmcost.decode.otlp import AttributeFilter
from otel_llmcost.ingest.tracebuffer import TraceGroup
from otel_llmcost.model import AttributeValue, SpanRecord
from otel_llmcost.rows.columncheck import (
    MAX_ITEMS,
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    ColumnChecks,
    Findings,
    Fits,
    fits_for,
    rows_failing,
    valid_utf8,
)

TABLE = "otel_traces"
_MAP = "Map(LowCardinality(String), String)"
#: The insert's columns (the DDL is clickhouse/migrations/004_traces.sql, the Collector's).
COLUMN_TYPES = (
    ("Timestamp", "DateTime64(9)"), ("TraceId", "String"), ("SpanId", "String"), ("ParentSpanId", "String"),
    ("TraceState", "String"), ("SpanName", "LowCardinality(String)"), ("SpanKind", "LowCardinality(String)"),
    ("ServiceName", "LowCardinality(String)"), ("ResourceAttributes", _MAP), ("ScopeName", "String"),
    ("ScopeVersion", "String"), ("SpanAttributes", _MAP), ("Duration", "UInt64"),
    ("StatusCode", "LowCardinality(String)"), ("StatusMessage", "String"),
)
# As the Collector writes them (pdata's SpanKind / StatusCode names).
_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
_STATUSES = ("Unset", "Ok", "Error")
_EVERY_ATTRIBUTE = AttributeFilter(frozenset(), ("",))  # "" prefixes every key
TENANT_ATTRIBUTE = "otel_llmcost.tenant"
NOTE_ATTRIBUTE = "otel_llmcost.note"
_CHECKS = ColumnChecks(COLUMN_TYPES, event_time="Timestamp")
_ATTRIBUTES = [name for name, _ in COLUMN_TYPES].index("SpanAttributes")
_COLUMN_FITS = tuple(fits_for(ch_type) for _, ch_type in COLUMN_TYPES)


def _built_maps_fit(maps: Sequence[dict[str, str]]) -> bool:
    """The column test of attribute maps TraceKeeper built (_strings: at most max_attributes entries, each value
    text of at most max_attribute_bytes, both within the column's limits, the tenant's too): only their text is
    tested, and the distinct keys' lengths. Half the cost of the general test (1.0 against 2.1 µs per firehose
    span), and that test was two thirds of checking a span."""
    try:
        keys = set(chain.from_iterable(maps))
        values = "".join(chain.from_iterable(map(dict.values, maps)))
        return max(map(len, keys), default=0) <= MAX_NAME_CHARS and valid_utf8("".join(keys)) and valid_utf8(values)
    except TypeError:  # not all text: the general test per map finds which
        return False


# The spans' own maps (resources' are shared by many spans, and cheap to test as they are)
_BUILT_FITS = tuple(Fits(_built_maps_fit, fits.value) if index == _ATTRIBUTES else fits
                    for index, fits in enumerate(_COLUMN_FITS))


class TraceKeeper:
    """Picks the spans to keep and turns them into otel_traces columns."""

    def __init__(self, settings: TracesSettings):
        self._settings = settings
        # the tenant's entry is added to each span's map; check_span may add the note's
        self._maps_within_limits = settings.max_attributes + 2 <= MAX_ITEMS and \
            settings.max_attribute_bytes <= MAX_TEXT_CHARS

    @property
    def wanted(self) -> AttributeFilter:
        """The attributes decode must keep for these traces (none extra when traces are off)."""
        return AttributeFilter(frozenset()) if self._settings.keep == "none" else _EVERY_ATTRIBUTE

    def spans(self, group: TraceGroup, tenants: set[str]) -> list[tuple[SpanRecord, str]]:
        """The spans of `group` to store, each with its trace's tenant: all of them when keep=all, or
        keep=llm and the trace holds a call. `tenants`: those the group's calls are charged to (empty: no
        call). A trace comes in parts when a part arrives after the trace was written (group.state: what
        its earlier parts left): once a part holds a call, the spans released before it without one are
        stored too, and each later part is kept with the trace; every span is taken once."""
        state, keep = group.state, self._settings.keep
        state.tenants = state.tenants.union(tenants)
        if not (keep == "all" or (keep == "llm" and state.tenants)):
            return []
        spans = group.context.values() if keep == "llm" and not state.kept else group.spans
        state.kept = True
        tenant = next(iter(state.tenants)) if len(state.tenants) == 1 else ""
        # A span sent with another tenant's key (a trace id reused across tenants) is not that tenant's to read.
        return [(span, tenant if span.attributes.get(AUTH_TENANT_KEY, tenant) == tenant else "") for span in spans]

    def columns(self, spans: Sequence[tuple[SpanRecord, str]]) -> TraceColumns:
        """The spans as columns in COLUMN_TYPES order, each value storable in its column (check_columns).
        Built column by column, no row objects: most spans of a firehose are plain app spans."""
        resources: dict[int, dict[str, str]] = {}  # one conversion per shared resource mapping
        strings = self._strings
        for span, _ in spans:
            if id(span.resource) not in resources:
                resources[id(span.resource)] = strings(span.resource)
        attribute_maps = []
        for span, tenant in spans:
            attributes = strings(span.attributes)
            attributes[TENANT_ATTRIBUTE] = tenant
            attribute_maps.append(attributes)
        records = [span for span, _ in spans]
        resource_maps = [resources[id(span.resource)] for span in records]
        last_kind, last_status = len(_KINDS) - 1, len(_STATUSES) - 1
        built = self._maps_within_limits and all(len(tenant) <= MAX_TEXT_CHARS for tenant in {t for _, t in spans})
        return check_columns(TraceColumns([  # a comprehension per column: no per-span appends
            [span.start_ns for span in records], [span.trace_id for span in records],
            [span.span_id for span in records], [span.parent_span_id for span in records], [""] * len(records),
            [span.name for span in records],
            [_KINDS[kind] if 0 <= (kind := span.kind) <= last_kind else _KINDS[0] for span in records],
            [resource.get("service.name", "") for resource in resource_maps], resource_maps,
            [span.scope_name for span in records], [span.scope_version for span in records], attribute_maps,
            [span.end_ns - span.start_ns for span in records],
            [_STATUSES[status] if 0 <= (status := span.status_code) <= last_status else _STATUSES[0]
             for span in records],
            [span.status_message for span in records]]), _BUILT_FITS if built else _COLUMN_FITS)

    def _strings(self, attributes: Mapping[str, AttributeValue]) -> dict[str, str]:
        size = self._settings.max_attribute_bytes
        quarter = size // 4  # a string of at most size/4 characters fits in size bytes: the cheap test first
        strings = {}
        for key, value in islice(attributes.items(), self._settings.max_attributes):
            kind = type(value)
            if kind is str:
                strings[key] = value if len(value) <= quarter else _fit(value, size)
            elif kind is int or kind is float:  # an int64 or a double: a few characters, nothing to cut
                strings[key] = str(value)
            else:
                strings[key] = _fit(value, size)
        return strings


@dataclass(slots=True)
class TraceColumns:
    """otel_traces rows as columns (lists in COLUMN_TYPES order): what UsageStore.insert_traces takes."""

    columns: list[list]

    def __len__(self) -> int:
        return len(self.columns[0])

    def __getitem__(self, part: slice) -> TraceColumns:
        return TraceColumns([column[part] for column in self.columns])

    def take(self, indexes: Sequence[int]) -> TraceColumns:
        return TraceColumns([[column[i] for i in indexes] for column in self.columns])

    def row(self, index: int) -> list:
        return [column[index] for column in self.columns]

    def copy(self) -> list[list]:
        """New column lists (an encoder may convert its lists in place; a retried batch must stay as built)."""
        return [list(column) for column in self.columns]


def check_span(row: Sequence) -> list:
    """The row with every value storable in its otel_traces column; what changed is noted in its attributes."""
    findings = Findings()
    checked = _CHECKS.check(row, findings)
    if findings.notes:
        checked[_ATTRIBUTES] = {**checked[_ATTRIBUTES], NOTE_ATTRIBUTE: "; ".join(findings.notes)[:MAX_TEXT_CHARS]}
    return checked


def check_columns(spans: TraceColumns, fits: Sequence[Fits] = _COLUMN_FITS) -> TraceColumns:
    """The spans (changed in place) with every value storable, as check_span makes each row; only the rows a
    fast column test finds (rows_failing) are checked one by one."""
    for index in sorted(rows_failing(spans.columns, fits)):
        for column, value in zip(spans.columns, check_span(spans.row(index)), strict=True):
            column[index] = value
    return spans


def _fit(value: AttributeValue, size: int) -> str:
    """The value as text, cut to `size` UTF-8 bytes (never half a character)."""
    text = value if isinstance(value, str) else _text(value)
    encoded = text.encode()
    return encoded[:size].decode("utf-8", "ignore") if len(encoded) > size else text


def _text(value: AttributeValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
