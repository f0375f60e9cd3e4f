-- Latency and time-to-first-token percentile states by tenant, provider and requested model, per hour and
-- per day, kept by materialized views from llm_usage (columns and SELECTs from store/rollups.py,
-- frozen here as literal SQL): the
-- model panels merge ~25 times fewer t-digest states than from usage_hourly. Built from the stored rows
-- after this migration.
CREATE TABLE IF NOT EXISTS {database}.latency_hourly{local}{on_cluster}
(
    hour DateTime('UTC'),
    tenant_id LowCardinality(String),
    provider LowCardinality(String),
    request_model LowCardinality(String),
    latency_ms_quantiles AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    ttft_ms_quantiles AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64)
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, provider, request_model)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.latency_daily{local}{on_cluster}
(
    day Date,
    tenant_id LowCardinality(String),
    provider LowCardinality(String),
    request_model LowCardinality(String),
    latency_ms_quantiles AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    ttft_ms_quantiles AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64)
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, provider, request_model)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.latency_hourly_mv{local}{on_cluster}
TO {database}.latency_hourly{local}
AS SELECT
    toStartOfHour(u.ts) AS hour,
    u.tenant_id AS tenant_id,
    u.provider AS provider,
    u.request_model AS request_model,
    quantilesTDigestState(0.5, 0.95, 0.99)(u.latency_ms) AS latency_ms_quantiles,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ifNull(u.ttft_ms, 0), u.ttft_ms IS NOT NULL) AS ttft_ms_quantiles
FROM {database}.llm_usage{local} AS u
GROUP BY hour, tenant_id, provider, request_model;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.latency_daily_mv{local}{on_cluster}
TO {database}.latency_daily{local}
AS SELECT
    toDate(u.ts) AS day,
    u.tenant_id AS tenant_id,
    u.provider AS provider,
    u.request_model AS request_model,
    quantilesTDigestState(0.5, 0.95, 0.99)(u.latency_ms) AS latency_ms_quantiles,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ifNull(u.ttft_ms, 0), u.ttft_ms IS NOT NULL) AS ttft_ms_quantiles
FROM {database}.llm_usage{local} AS u
GROUP BY day, tenant_id, provider, request_model;
