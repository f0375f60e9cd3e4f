-- FinOps (issue 20). reconciliations: one row per UTC day, provider, model (model_key: the name both sides
-- were matched by; model: as the export or, without one, the calls name it) and tenant (tenant '' unless the
-- export's accounts were mapped to tenants) of each `otel-llmcost reconcile` run: what the provider's export
-- billed, what the stored calls cost, the gap (billed - ours) and its likely reason. A later run's row for the
-- same provider, day, model and tenant replaces the earlier one (the last inserted wins; read with FINAL).
CREATE TABLE IF NOT EXISTS {database}.reconciliations{local}{on_cluster}
(
    run_id String,
    reconciled_at DateTime64(3, 'UTC'),
    source LowCardinality(String),
    day Date,
    provider LowCardinality(String),
    model_key LowCardinality(String),
    model LowCardinality(String),
    tenant_id LowCardinality(String),
    billed_usd Decimal(38, 12),
    ours_usd Decimal(38, 12),
    gap_usd Decimal(38, 12),
    billed_tokens UInt64,
    our_tokens UInt64,
    calls UInt64,
    unpriced_calls UInt64,
    status LowCardinality(String),
    reason String CODEC(ZSTD(1))
)
ENGINE = {replicated}ReplacingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (provider, day, model_key, tenant_id)
SETTINGS {dedup_window};
