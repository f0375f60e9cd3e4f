"""Value objects passed between pipeline stages.

decode -> SpanRecord; semconv -> LlmCall; attribution -> Attribution; pricing -> Cost;
the store receives UsageRow, whose field order *is* the table's column order (store/schema.py checks it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from otel_llmcost.kinds import with_kind_fields

AttributeValue = Any  # str | bool | int | float | list | dict after decoding


# The records made per span, per call and per row are not frozen: a frozen dataclass's __init__ sets each
# field through object.__setattr__, which made building them 3-4x slower (bench/throughput.py). No stage
# mutates them; dataclasses.replace makes changed copies.
@dataclass(slots=True)
class SpanRecord:
    """One decoded span, keeping only the attributes later stages read (decode filters the rest)."""

    trace_id: str  # 32 lower-case hex chars
    span_id: str  # 16 lower-case hex chars
    parent_span_id: str  # "" for a root span
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    attributes: Mapping[str, AttributeValue]
    resource: Mapping[str, AttributeValue]  # shared by all spans of one ResourceSpans
    scope_name: str
    scope_version: str


@with_kind_fields(lambda kind: (kind.count, "int", 0) if kind.count else None)
@dataclass(slots=True)
class LlmCall:
    """What one LLM call span says, normalized to one count convention; then a count per kind (kinds.py:
    input_tokens includes cache reads and writes, reasoning_tokens is part of output_tokens, ...).
    """

    dialect: str
    provider: str
    operation: str
    request_model: str
    response_model: str
    response_id: str
    error_type: str
    streaming: bool
    ttft_ms: float | None
    service_tier: str
    server_address: str
    emitter_cost_usd: Decimal | None = None  # what the instrumentation itself reported; never ours
    usage_issue: str = ""  # why the token counts cannot be right as reported; such calls are not priced
    if TYPE_CHECKING:  # the fields with_kind_fields adds (kinds.py), for mypy; tests/test_billable_units.py
        input_tokens: int = 0
        cache_read_tokens: int = 0
        cache_write_tokens: int = 0
        output_tokens: int = 0
        reasoning_tokens: int = 0
        cache_write_1h_tokens: int = 0
        audio_input_tokens: int = 0
        audio_output_tokens: int = 0
        image_input_tokens: int = 0
        image_output_tokens: int = 0
        web_searches: int = 0
        file_searches: int = 0
        images: int = 0
        audio_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who and what a call is charged to."""

    tenant_id: str
    environment: str
    service_name: str
    feature: str
    user_id: str
    session_id: str
    request_id: str
    attempt: int
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    project: str = ""
    api_key_id: str = ""  # the id of the ingest key the export came with (never its secret); "" without one


@with_kind_fields(lambda kind: (kind.cost, "Decimal | None", None), before="cost_usd")
@dataclass(slots=True)
class Cost:
    """The price of one call: a cost per kinds.COST_COLUMNS, then their sum. Amounts are None when the call
    could not be priced."""

    status: str  # "priced" | "estimated" | "unpriced" | "invalid_usage"
    note: str  # why it is not simply priced; empty when it is
    price_id: str
    price_book_version: str
    price_tier: str = ""  # the context-length tier applied, e.g. ">200000"; "" for the base rates
    price_multiplier: Decimal = Decimal(1)  # a contract adjustment applied to the whole cost
    if TYPE_CHECKING:  # the fields with_kind_fields adds (kinds.py), for mypy; tests/test_billable_units.py
        input_cost_usd: Decimal | None = None
        cache_read_cost_usd: Decimal | None = None
        cache_write_cost_usd: Decimal | None = None
        output_cost_usd: Decimal | None = None
        reasoning_cost_usd: Decimal | None = None
        audio_cost_usd: Decimal | None = None
        image_cost_usd: Decimal | None = None
        request_fee_usd: Decimal | None = None
        search_fee_usd: Decimal | None = None
        tool_fee_usd: Decimal | None = None
        image_fee_usd: Decimal | None = None
        audio_fee_usd: Decimal | None = None
    cost_usd: Decimal | None = None


@with_kind_fields(lambda kind: (kind.cost, "Decimal | None", dataclasses.MISSING), before="cost_usd")
@with_kind_fields(lambda kind: (kind.count, "int", dataclasses.MISSING) if kind.count else None, before="cost_usd")
@dataclass(slots=True)
class UsageRow:
    """One row of llmcost.llm_usage: one LLM call, attributed and priced. Field order = column order: the
    counts by kind and the costs by kind come before cost_usd."""

    ts: datetime
    tenant_id: str
    environment: str
    service_name: str
    feature: str
    user_id: str
    session_id: str
    request_id: str
    attempt: int
    trace_id: str
    span_id: str
    parent_span_id: str
    span_name: str
    provider: str
    operation: str
    request_model: str
    response_model: str
    response_id: str
    if TYPE_CHECKING:  # the fields with_kind_fields adds (kinds.py), for mypy; tests/test_billable_units.py
        input_tokens: int
        cache_read_tokens: int
        cache_write_tokens: int
        output_tokens: int
        reasoning_tokens: int
        cache_write_1h_tokens: int
        audio_input_tokens: int
        audio_output_tokens: int
        image_input_tokens: int
        image_output_tokens: int
        web_searches: int
        file_searches: int
        images: int
        audio_seconds: int
        input_cost_usd: Decimal | None
        cache_read_cost_usd: Decimal | None
        cache_write_cost_usd: Decimal | None
        output_cost_usd: Decimal | None
        reasoning_cost_usd: Decimal | None
        audio_cost_usd: Decimal | None
        image_cost_usd: Decimal | None
        request_fee_usd: Decimal | None
        search_fee_usd: Decimal | None
        tool_fee_usd: Decimal | None
        image_fee_usd: Decimal | None
        audio_fee_usd: Decimal | None
    cost_usd: Decimal | None
    emitter_cost_usd: Decimal | None
    cost_status: str
    cost_note: str
    price_id: str
    price_book_version: str
    price_tier: str
    price_multiplier: Decimal
    status: str  # "ok" | "error"
    error_type: str
    latency_ms: float
    ttft_ms: float | None
    streaming: bool
    service_tier: str
    server_address: str
    instrumentation: str  # dialect that read the span, then the instrumentation scope name
    tags: tuple[str, ...]
    metadata: Mapping[str, str]
    ingested_at: datetime
    # added by migration 011 (ADD COLUMN appends): last, so old and new tables have one column order
    project: str = ""
    api_key_id: str = ""  # the ingest key's id (keys.py), never its secret; "" when the export came without one


@dataclass(frozen=True, slots=True)
class IngestResult:
    """Outcome of one OTLP export request, as reported back to the client."""

    accepted_spans: int
    rejected_spans: int
    message: str  # human-readable reasons for the rejected spans; "" when none


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """What the pipeline has done since it started, and what it holds now (Pipeline.stats()). The store's
    insert timings and failures are counted once, by ops.metrics.MeasuredStore."""

    received_spans: int  # usable and rejected, in exports that were not refused
    accepted_spans: int  # new spans written to the spool
    duplicate_spans: int  # re-sent spans acknowledged without spooling them again
    rejected_spans: int  # unusable spans (partial_success)
    refused_exports: int  # answered "retry later": buffer full, store backlog, spool write failed
    spool_write_failures: int
    rows_adjusted: int  # rows with a value clamped, truncated or dropped to fit its column (noted in cost_note)
    rows_written: int
    rows_already_stored: int  # left out of an INSERT because the store had them (re-sent, replayed)
    rows_dead_lettered: int  # calls written to rejected_calls
    buffered_spans: int
    buffered_bytes: int  # approximate
    spool_bytes: int
    spans_written: int  # otel_traces rows stored
    unsent_rows: int  # priced, waiting for the store
    oldest_unsent_seconds: float  # how long the oldest batch not stored yet has waited (0: none)
    oldest_unflushed_seconds: float  # age of the oldest trace still in the buffer
