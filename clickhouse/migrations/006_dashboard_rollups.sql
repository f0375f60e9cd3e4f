-- What the dashboards need beyond migration 003, kept by materialized views from llm_usage like its
-- rollups (same dedup window; columns and SELECTs rendered from store/rollups.py,
-- frozen here as literal SQL):
--   request_counts_hourly: exact sets of requests per hour by every rollup dimension but status;
--   errors_hourly: failed calls per hour by those dimensions and error type;
--   users_daily: calls, tokens and costs per tenant, day and user;
--   usage_hourly and usage_daily gain retry_cost_usd (the cost of attempts after the first).
-- After this migration all five are built from the rows already stored. The new tables have granules of
-- 1,024 rows: with tenant_id leading the sort key, 8,192-row granules span days of one tenant, so a query
-- over all tenants and one day read most of the table (usage_hourly keeps 8,192: changing it means a copy).
CREATE TABLE IF NOT EXISTS {database}.request_counts_hourly{local}{on_cluster}
(
    hour DateTime('UTC'),
    tenant_id LowCardinality(String),
    environment LowCardinality(String),
    service_name LowCardinality(String),
    feature LowCardinality(String),
    provider LowCardinality(String),
    request_model LowCardinality(String),
    requests AggregateFunction(uniqExact, String, String)
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, environment, service_name, feature, provider, request_model)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.errors_hourly{local}{on_cluster}
(
    hour DateTime('UTC'),
    tenant_id LowCardinality(String),
    environment LowCardinality(String),
    service_name LowCardinality(String),
    feature LowCardinality(String),
    provider LowCardinality(String),
    request_model LowCardinality(String),
    error_type LowCardinality(String),
    failed_calls SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12))
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, environment, service_name, feature, provider, request_model, error_type)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.users_daily{local}{on_cluster}
(
    day Date,
    tenant_id LowCardinality(String),
    user_id String,
    calls SimpleAggregateFunction(sum, UInt64),
    failed_calls SimpleAggregateFunction(sum, UInt64),
    retry_calls SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_1h_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens SimpleAggregateFunction(sum, UInt64),
    audio_input_tokens SimpleAggregateFunction(sum, UInt64),
    audio_output_tokens SimpleAggregateFunction(sum, UInt64),
    image_input_tokens SimpleAggregateFunction(sum, UInt64),
    image_output_tokens SimpleAggregateFunction(sum, UInt64),
    web_searches SimpleAggregateFunction(sum, UInt64),
    input_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cache_read_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cache_write_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    output_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    reasoning_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    audio_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    image_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    request_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    search_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    emitter_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12))
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, user_id)
SETTINGS index_granularity = 1024, {dedup_window};

ALTER TABLE {database}.usage_hourly{local}{on_cluster}
    ADD COLUMN IF NOT EXISTS retry_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12));

ALTER TABLE {database}.usage_daily{local}{on_cluster}
    ADD COLUMN IF NOT EXISTS retry_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12));

ALTER TABLE {database}.usage_hourly_mv{local}{on_cluster} MODIFY QUERY SELECT
    toStartOfHour(u.ts) AS hour,
    u.tenant_id AS tenant_id,
    u.environment AS environment,
    u.service_name AS service_name,
    u.feature AS feature,
    u.provider AS provider,
    u.request_model AS request_model,
    u.status AS status,
    count() AS calls,
    countIf(u.status = 'error') AS failed_calls,
    countIf(u.attempt > 1) AS retry_calls,
    sum(u.input_tokens) AS input_tokens,
    sum(u.cache_read_tokens) AS cache_read_tokens,
    sum(u.cache_write_tokens) AS cache_write_tokens,
    sum(u.cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(u.output_tokens) AS output_tokens,
    sum(u.reasoning_tokens) AS reasoning_tokens,
    sum(u.audio_input_tokens) AS audio_input_tokens,
    sum(u.audio_output_tokens) AS audio_output_tokens,
    sum(u.image_input_tokens) AS image_input_tokens,
    sum(u.image_output_tokens) AS image_output_tokens,
    sum(u.web_searches) AS web_searches,
    sum(ifNull(u.input_cost_usd, 0)) AS input_cost_usd,
    sum(ifNull(u.cache_read_cost_usd, 0)) AS cache_read_cost_usd,
    sum(ifNull(u.cache_write_cost_usd, 0)) AS cache_write_cost_usd,
    sum(ifNull(u.output_cost_usd, 0)) AS output_cost_usd,
    sum(ifNull(u.reasoning_cost_usd, 0)) AS reasoning_cost_usd,
    sum(ifNull(u.audio_cost_usd, 0)) AS audio_cost_usd,
    sum(ifNull(u.image_cost_usd, 0)) AS image_cost_usd,
    sum(ifNull(u.request_fee_usd, 0)) AS request_fee_usd,
    sum(ifNull(u.search_fee_usd, 0)) AS search_fee_usd,
    sum(ifNull(u.cost_usd, 0)) AS cost_usd,
    sum(ifNull(u.emitter_cost_usd, 0)) AS emitter_cost_usd,
    countIf(u.cost_usd IS NULL) AS unpriced_calls,
    countIf(u.cost_status = 'estimated') AS estimated_calls,
    sum(u.latency_ms) AS latency_ms_sum,
    sum(ifNull(u.ttft_ms, 0)) AS ttft_ms_sum,
    countIf(u.ttft_ms IS NOT NULL) AS ttft_calls,
    quantilesTDigestState(0.5, 0.95, 0.99)(u.latency_ms) AS latency_ms_quantiles,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ifNull(u.ttft_ms, 0), u.ttft_ms IS NOT NULL) AS ttft_ms_quantiles,
    sumIf(ifNull(u.cost_usd, 0), u.attempt > 1) AS retry_cost_usd
FROM {database}.llm_usage{local} AS u
GROUP BY hour, tenant_id, environment, service_name, feature, provider, request_model, status;

ALTER TABLE {database}.usage_daily_mv{local}{on_cluster} MODIFY QUERY SELECT
    toDate(u.ts) AS day,
    u.tenant_id AS tenant_id,
    u.environment AS environment,
    u.service_name AS service_name,
    u.feature AS feature,
    u.provider AS provider,
    u.request_model AS request_model,
    u.status AS status,
    count() AS calls,
    countIf(u.status = 'error') AS failed_calls,
    countIf(u.attempt > 1) AS retry_calls,
    sum(u.input_tokens) AS input_tokens,
    sum(u.cache_read_tokens) AS cache_read_tokens,
    sum(u.cache_write_tokens) AS cache_write_tokens,
    sum(u.cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(u.output_tokens) AS output_tokens,
    sum(u.reasoning_tokens) AS reasoning_tokens,
    sum(u.audio_input_tokens) AS audio_input_tokens,
    sum(u.audio_output_tokens) AS audio_output_tokens,
    sum(u.image_input_tokens) AS image_input_tokens,
    sum(u.image_output_tokens) AS image_output_tokens,
    sum(u.web_searches) AS web_searches,
    sum(ifNull(u.input_cost_usd, 0)) AS input_cost_usd,
    sum(ifNull(u.cache_read_cost_usd, 0)) AS cache_read_cost_usd,
    sum(ifNull(u.cache_write_cost_usd, 0)) AS cache_write_cost_usd,
    sum(ifNull(u.output_cost_usd, 0)) AS output_cost_usd,
    sum(ifNull(u.reasoning_cost_usd, 0)) AS reasoning_cost_usd,
    sum(ifNull(u.audio_cost_usd, 0)) AS audio_cost_usd,
    sum(ifNull(u.image_cost_usd, 0)) AS image_cost_usd,
    sum(ifNull(u.request_fee_usd, 0)) AS request_fee_usd,
    sum(ifNull(u.search_fee_usd, 0)) AS search_fee_usd,
    sum(ifNull(u.cost_usd, 0)) AS cost_usd,
    sum(ifNull(u.emitter_cost_usd, 0)) AS emitter_cost_usd,
    countIf(u.cost_usd IS NULL) AS unpriced_calls,
    countIf(u.cost_status = 'estimated') AS estimated_calls,
    sum(u.latency_ms) AS latency_ms_sum,
    sum(ifNull(u.ttft_ms, 0)) AS ttft_ms_sum,
    countIf(u.ttft_ms IS NOT NULL) AS ttft_calls,
    quantilesTDigestState(0.5, 0.95, 0.99)(u.latency_ms) AS latency_ms_quantiles,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ifNull(u.ttft_ms, 0), u.ttft_ms IS NOT NULL) AS ttft_ms_quantiles,
    sumIf(ifNull(u.cost_usd, 0), u.attempt > 1) AS retry_cost_usd
FROM {database}.llm_usage{local} AS u
GROUP BY day, tenant_id, environment, service_name, feature, provider, request_model, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.request_counts_hourly_mv{local}{on_cluster}
TO {database}.request_counts_hourly{local}
AS SELECT
    toStartOfHour(u.ts) AS hour,
    u.tenant_id AS tenant_id,
    u.environment AS environment,
    u.service_name AS service_name,
    u.feature AS feature,
    u.provider AS provider,
    u.request_model AS request_model,
    uniqExactState(toString(u.tenant_id), u.request_id) AS requests
FROM {database}.llm_usage{local} AS u
GROUP BY hour, tenant_id, environment, service_name, feature, provider, request_model;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.errors_hourly_mv{local}{on_cluster}
TO {database}.errors_hourly{local}
AS SELECT
    toStartOfHour(u.ts) AS hour,
    u.tenant_id AS tenant_id,
    u.environment AS environment,
    u.service_name AS service_name,
    u.feature AS feature,
    u.provider AS provider,
    u.request_model AS request_model,
    u.error_type AS error_type,
    count() AS failed_calls,
    sum(ifNull(u.cost_usd, 0)) AS cost_usd
FROM {database}.llm_usage{local} AS u
WHERE (u.status = 'error')
GROUP BY hour, tenant_id, environment, service_name, feature, provider, request_model, error_type;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.users_daily_mv{local}{on_cluster}
TO {database}.users_daily{local}
AS SELECT
    toDate(u.ts) AS day,
    u.tenant_id AS tenant_id,
    u.user_id AS user_id,
    count() AS calls,
    countIf(u.status = 'error') AS failed_calls,
    countIf(u.attempt > 1) AS retry_calls,
    sum(u.input_tokens) AS input_tokens,
    sum(u.cache_read_tokens) AS cache_read_tokens,
    sum(u.cache_write_tokens) AS cache_write_tokens,
    sum(u.cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(u.output_tokens) AS output_tokens,
    sum(u.reasoning_tokens) AS reasoning_tokens,
    sum(u.audio_input_tokens) AS audio_input_tokens,
    sum(u.audio_output_tokens) AS audio_output_tokens,
    sum(u.image_input_tokens) AS image_input_tokens,
    sum(u.image_output_tokens) AS image_output_tokens,
    sum(u.web_searches) AS web_searches,
    sum(ifNull(u.input_cost_usd, 0)) AS input_cost_usd,
    sum(ifNull(u.cache_read_cost_usd, 0)) AS cache_read_cost_usd,
    sum(ifNull(u.cache_write_cost_usd, 0)) AS cache_write_cost_usd,
    sum(ifNull(u.output_cost_usd, 0)) AS output_cost_usd,
    sum(ifNull(u.reasoning_cost_usd, 0)) AS reasoning_cost_usd,
    sum(ifNull(u.audio_cost_usd, 0)) AS audio_cost_usd,
    sum(ifNull(u.image_cost_usd, 0)) AS image_cost_usd,
    sum(ifNull(u.request_fee_usd, 0)) AS request_fee_usd,
    sum(ifNull(u.search_fee_usd, 0)) AS search_fee_usd,
    sum(ifNull(u.cost_usd, 0)) AS cost_usd,
    sum(ifNull(u.emitter_cost_usd, 0)) AS emitter_cost_usd
FROM {database}.llm_usage{local} AS u
GROUP BY day, tenant_id, user_id;
