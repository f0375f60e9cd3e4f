"""The llm_usage columns, once: they render the DDL, name the INSERT's columns and order the row builder."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from importlib.resources import files

from otel_llmcost.model import UsageRow

_TOKENS = ("UInt64", "CODEC(T64, ZSTD(1))")
_USD = "Nullable(Decimal(38, 12))"
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
    ("input_tokens", *_TOKENS),
    ("cache_read_tokens", *_TOKENS),
    ("cache_write_tokens", *_TOKENS),
    ("output_tokens", *_TOKENS),
    ("reasoning_tokens", *_TOKENS),
    ("cache_write_1h_tokens", *_TOKENS),
    ("audio_input_tokens", *_TOKENS),
    ("audio_output_tokens", *_TOKENS),
    ("image_input_tokens", *_TOKENS),
    ("image_output_tokens", *_TOKENS),
    ("web_searches", "UInt32", "CODEC(T64, ZSTD(1))"),
    ("input_cost_usd", _USD, ""),
    ("cache_read_cost_usd", _USD, ""),
    ("cache_write_cost_usd", _USD, ""),
    ("output_cost_usd", _USD, ""),
    ("reasoning_cost_usd", _USD, ""),
    ("audio_cost_usd", _USD, ""),
    ("image_cost_usd", _USD, ""),
    ("request_fee_usd", _USD, ""),
    ("search_fee_usd", _USD, ""),
    ("cost_usd", _USD, ""),
    ("emitter_cost_usd", _USD, ""),
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
)
COLUMN_NAMES = tuple(name for name, _, _ in COLUMNS)
COLUMN_TYPES = tuple((name, ch_type) for name, ch_type, _ in COLUMNS)
TABLE = "llm_usage"

if COLUMN_NAMES != tuple(f.name for f in dataclasses.fields(UsageRow)):
    raise RuntimeError("store.schema.COLUMNS and model.UsageRow disagree; keep them in the same order")


def ddl_statements(database: str) -> list[str]:
    """CREATE statements for the database, rendered from the clickhouse/*.sql templates, in order."""
    columns = ",\n".join(f"    {name} {ch_type} {codec}".rstrip() for name, ch_type, codec in COLUMNS)
    templates = sorted(
        (entry for entry in files("otel_llmcost.ddl").iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [t.read_text(encoding="utf-8").format(database=database, columns=columns).strip() for t in templates]


def ensure_schema(store) -> None:
    """Create what is missing: the database and tables, then the llm_usage columns a table made by an older
    release lacks (added in place; its rows read the type's default, 0 or NULL). `store`: a UsageStore."""
    for statement in ddl_statements(store.database):
        store.command(statement)
    present = {row["name"] for row in store.query(_PRESENT_COLUMNS, {"database": store.database, "table": TABLE})}
    previous = ""
    for name, ch_type, codec in COLUMNS:
        if name not in present:
            where = f"AFTER {previous}" if previous else "FIRST"
            column = f"{name} {ch_type} {codec}".rstrip()
            store.command(f"ALTER TABLE {store.database}.{TABLE} ADD COLUMN IF NOT EXISTS {column} {where}")
        previous = name


_PRESENT_COLUMNS = "SELECT name FROM system.columns WHERE database = {database:String} AND table = {table:String}"


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
