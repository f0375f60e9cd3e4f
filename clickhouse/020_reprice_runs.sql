-- Audit trail of `otel-llmcost reprice`: one row per run, dry runs included.
CREATE TABLE IF NOT EXISTS {database}.reprice_runs
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
ENGINE = MergeTree
ORDER BY started_at
