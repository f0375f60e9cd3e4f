"""The llm_usage columns, once: they name the INSERT's columns, order the row builder and render the rollups.

The tables themselves are made by versioned migrations (store/migrations.py, clickhouse/migrations/*.sql);
a test checks that the migrated llm_usage has exactly these columns."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta, timezone

from otel_llmcost.kinds import COST_COLUMNS, COUNTED
from otel_llmcost.model import UsageRow

USD = "Nullable(Decimal(38, 12))"
_NAME = "LowCardinality(String)"

#: (column, ClickHouse type, codec or ""), in UsageRow field order.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("ts", "DateTime64(6, 'UTC')", "CODEC(Delta, ZSTD(1))"),
    ("tenant_id", _NAME, ""),
    ("environment", _NAME, ""),
    ("service_name", _NAME, ""),
    ("feature", _NAME, ""),
    ("user_id", "String", "CODEC(ZSTD(1))"),
    ("session_id", "String", "CODEC(ZSTD(1))"),
    ("request_id", "String", "CODEC(ZSTD(1))"),
    ("attempt", "UInt16", ""),
    ("trace_id", "String", "CODEC(ZSTD(1))"),
    ("span_id", "String", "CODEC(ZSTD(1))"),
    ("parent_span_id", "String", "CODEC(ZSTD(1))"),
    ("span_name", _NAME, ""),
    ("provider", _NAME, ""),
    ("operation", _NAME, ""),
    ("request_model", _NAME, ""),
    ("response_model", _NAME, ""),
    ("response_id", "String", "CODEC(ZSTD(1))"),
    *((kind.count, kind.count_type, "CODEC(T64, ZSTD(1))") for kind in COUNTED),  # kinds.py, in its order
    *((name, USD, "") for name in COST_COLUMNS),
    ("cost_usd", USD, ""),
    ("emitter_cost_usd", USD, ""),
    ("cost_status", _NAME, ""),
    ("cost_note", "String", "CODEC(ZSTD(1))"),
    ("price_id", _NAME, ""),
    ("price_book_version", _NAME, ""),
    ("price_tier", _NAME, ""),
    ("price_multiplier", "Decimal(18, 9)", ""),
    ("status", _NAME, ""),
    ("error_type", _NAME, ""),
    ("latency_ms", "Float64", "CODEC(ZSTD(1))"),
    ("ttft_ms", "Nullable(Float64)", ""),
    ("streaming", "Bool", ""),
    ("service_tier", _NAME, ""),
    ("server_address", _NAME, ""),
    ("instrumentation", _NAME, ""),
    ("tags", "Array(LowCardinality(String))", ""),
    ("metadata", "Map(LowCardinality(String), String)", "CODEC(ZSTD(1))"),
    ("ingested_at", "DateTime64(3, 'UTC')", "CODEC(Delta, ZSTD(1))"),
    ("project", _NAME, ""),
    ("api_key_id", _NAME, ""),
)
COLUMN_NAMES = tuple(name for name, _, _ in COLUMNS)
COLUMN_TYPES = tuple((name, ch_type) for name, ch_type, _ in COLUMNS)
TABLE = "llm_usage"

if COLUMN_NAMES != tuple(f.name for f in dataclasses.fields(UsageRow)):
    raise RuntimeError("store.schema.COLUMNS and model.UsageRow disagree; keep them in the same order")


#: With every tokened insert: the views' targets check the token too (the 26.9 default, set explicitly), and
#: a ClickHouse 26.x server's default async_insert would batch inserts apart from their token.
DEDUP_SETTINGS = {"insert_deduplicate": 1, "deduplicate_blocks_in_dependent_materialized_views": 1, "async_insert": 0}


def dedup_settings(token: str) -> str:
    """The SETTINGS clause text of an insert carrying `token` (a hex digest: nothing to quote)."""
    return ", ".join(f"{name} = {value}" for name, value in DEDUP_SETTINGS.items()) + \
        f", insert_deduplication_token = '{token}'"


def dedup_token(rows: list[UsageRow]) -> str:
    """The insert_deduplication_token of a batch: the same calls give the same token, on a retry and on a
    replay from the spool (ingested_at and other per-attempt values take no part)."""
    return span_dedup_token([row.trace_id for row in rows], [row.span_id for row in rows])


def span_dedup_token(trace_ids: list[str], span_ids: list[str]) -> str:
    """A token naming a batch by its spans, whatever their order."""
    digest = hashlib.sha256()
    for trace_id, span_id in sorted(zip(trace_ids, span_ids, strict=True)):
        digest.update(f"{trace_id}/{span_id}\n".encode())
    return digest.hexdigest()


def to_columns(rows: list[UsageRow]) -> list[list]:
    """Columnar batch in COLUMNS order (fresh lists: the native encoder converts them in place).

    DateTime64 values go as whole ticks since the epoch, which clickhouse-driver writes as they are: exact
    integer arithmetic, where its own conversion of each aware datetime (astimezone, timestamp) cost ~2 µs."""
    return [
        [(value - _EPOCH) // _TICKS[name] for value in column] if name in _TICKS else column
        for name, column in ((name, [getattr(row, name) for row in rows]) for name in COLUMN_NAMES)
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# DateTime64(p, 'UTC') column -> the length of one tick, 10**-p seconds
_TICKS = {name: timedelta(microseconds=10 ** (6 - int(ch_type[len("DateTime64("):].split(",")[0])))
          for name, ch_type in COLUMN_TYPES if ch_type.startswith("DateTime64(")}
