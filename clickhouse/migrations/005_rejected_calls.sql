-- Dead letter: LLM calls that could not be stored as sent (a value no column can hold, a trace that could
-- not be priced), one row each, with the reason and the span or row as received (JSON). Nothing is dropped.
CREATE TABLE IF NOT EXISTS {database}.rejected_calls{local}{on_cluster}
(
    ts DateTime64(3, 'UTC'),
    trace_id String CODEC(ZSTD(1)),
    span_id String CODEC(ZSTD(1)),
    tenant_id LowCardinality(String),
    reason String CODEC(ZSTD(1)),
    span String CODEC(ZSTD(3))
)
ENGINE = {replicated}MergeTree{replica}
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, trace_id, span_id)
SETTINGS {dedup_window};
