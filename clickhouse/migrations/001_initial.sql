-- Migration 1: the schema of the last release before migrations (main at 4030af6), exactly.
-- Frozen: later changes are later migrations.
CREATE DATABASE IF NOT EXISTS {database}{on_cluster};

-- One row per LLM call: attributed (tenant, feature, request, attempt) and priced (Decimal USD by kind).
-- Tenant leads the sort key because dashboards and charge-back queries filter by tenant and time.
CREATE TABLE IF NOT EXISTS {database}.llm_usage{local}{on_cluster}
(
    ts DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    tenant_id LowCardinality(String),
    environment LowCardinality(String),
    service_name LowCardinality(String),
    feature LowCardinality(String),
    user_id String CODEC(ZSTD(1)),
    session_id String CODEC(ZSTD(1)),
    request_id String CODEC(ZSTD(1)),
    attempt UInt16,
    trace_id String CODEC(ZSTD(1)),
    span_id String CODEC(ZSTD(1)),
    parent_span_id String CODEC(ZSTD(1)),
    span_name LowCardinality(String),
    provider LowCardinality(String),
    operation LowCardinality(String),
    request_model LowCardinality(String),
    response_model LowCardinality(String),
    response_id String CODEC(ZSTD(1)),
    input_tokens UInt64 CODEC(T64, ZSTD(1)),
    cache_read_tokens UInt64 CODEC(T64, ZSTD(1)),
    cache_write_tokens UInt64 CODEC(T64, ZSTD(1)),
    output_tokens UInt64 CODEC(T64, ZSTD(1)),
    reasoning_tokens UInt64 CODEC(T64, ZSTD(1)),
    cache_write_1h_tokens UInt64 CODEC(T64, ZSTD(1)),
    audio_input_tokens UInt64 CODEC(T64, ZSTD(1)),
    audio_output_tokens UInt64 CODEC(T64, ZSTD(1)),
    image_input_tokens UInt64 CODEC(T64, ZSTD(1)),
    image_output_tokens UInt64 CODEC(T64, ZSTD(1)),
    web_searches UInt32 CODEC(T64, ZSTD(1)),
    input_cost_usd Nullable(Decimal(38, 12)),
    cache_read_cost_usd Nullable(Decimal(38, 12)),
    cache_write_cost_usd Nullable(Decimal(38, 12)),
    output_cost_usd Nullable(Decimal(38, 12)),
    reasoning_cost_usd Nullable(Decimal(38, 12)),
    audio_cost_usd Nullable(Decimal(38, 12)),
    image_cost_usd Nullable(Decimal(38, 12)),
    request_fee_usd Nullable(Decimal(38, 12)),
    search_fee_usd Nullable(Decimal(38, 12)),
    cost_usd Nullable(Decimal(38, 12)),
    emitter_cost_usd Nullable(Decimal(38, 12)),
    cost_status LowCardinality(String),
    cost_note String CODEC(ZSTD(1)),
    price_id LowCardinality(String),
    price_book_version LowCardinality(String),
    price_tier LowCardinality(String),
    price_multiplier Decimal(18, 9),
    status LowCardinality(String),
    error_type LowCardinality(String),
    latency_ms Float64 CODEC(ZSTD(1)),
    ttft_ms Nullable(Float64),
    streaming Bool,
    service_tier LowCardinality(String),
    server_address LowCardinality(String),
    instrumentation LowCardinality(String),
    tags Array(LowCardinality(String)),
    metadata Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ingested_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    INDEX idx_request_id request_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = {replicated}MergeTree{replica}
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, toStartOfHour(ts), feature, request_model, trace_id, span_id)
SETTINGS index_granularity = 8192;

-- Audit trail of `otel-llmcost reprice`: one row per run, dry runs included.
CREATE TABLE IF NOT EXISTS {database}.reprice_runs{local}{on_cluster}
(
    run_id String,
    started_at DateTime64(3, 'UTC'),
    finished_at DateTime64(3, 'UTC'),
    since DateTime64(6, 'UTC'),
    until DateTime64(6, 'UTC'),
    dry_run Bool,
    price_book_version String,
    rows UInt64,
    changed_rows UInt64,
    old_total_usd Nullable(Decimal(38, 12)),
    new_total_usd Nullable(Decimal(38, 12)),
    by_model String CODEC(ZSTD(1))  -- JSON: each model -> its rows, old total and new total
)
ENGINE = {replicated}MergeTree{replica}
ORDER BY started_at;
