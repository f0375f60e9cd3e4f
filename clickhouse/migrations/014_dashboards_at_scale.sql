-- Migration 014 (issue 21): dashboards at 100 M calls of any shape. Literal SQL, frozen once applied; columns
-- and SELECTs rendered from store/rollups.py.
-- by_time: llm_usage's rows again, sorted by time, in the columns the dashboards and `stats` read from raw
-- rows (the partial hours at a range's ends): llm_usage is sorted by tenant first, so an hour of every tenant
-- costs a granule per tenant there, and only that hour here. A query picks whichever reads fewer granules.
-- usage_all_hourly/_daily: every tenant's calls together (tenant_id '*all*', which no tenant can be) by the other
-- rollup dimensions, with HyperLogLog request sketches; features_hourly/_daily: per tenant and feature, with
-- sketches; users_hourly: spend per tenant, user and hour; errors_all_hourly/_daily: every tenant's failed calls
-- by error type; projects_daily: chargeback by day; requests_all_hourly/_daily: one request sketch per hour and
-- day of every tenant. The daily tables, errors_all_hourly and requests_all_hourly are fed from another rollup's
-- inserted rows (a cascade: the view reads that view's output, not the raw block). All are filled from the
-- rows already stored after this migration (store/migrations.py), and the projection built.
-- features_hourly and users_hourly are sorted by hour first: the hours of a range outside its whole days are
-- then those hours' granules for all tenants, about one per hour for one (tenant first: a granule per tenant).
ALTER TABLE {database}.llm_usage{local}{on_cluster}
    ADD PROJECTION IF NOT EXISTS by_time (
    SELECT ts, tenant_id, environment, service_name, feature, user_id, request_id, attempt, provider,
        request_model, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
        cache_write_1h_tokens, audio_input_tokens, audio_output_tokens, image_input_tokens, image_output_tokens,
        web_searches, file_searches, images, audio_seconds, input_cost_usd, cache_read_cost_usd,
        cache_write_cost_usd, output_cost_usd, reasoning_cost_usd, audio_cost_usd, image_cost_usd,
        request_fee_usd, search_fee_usd, tool_fee_usd, image_fee_usd, audio_fee_usd, cost_usd, emitter_cost_usd,
        cost_status, price_multiplier, status, error_type, latency_ms, ttft_ms, project, api_key_id
    ORDER BY ts);

CREATE TABLE IF NOT EXISTS {database}.usage_all_hourly{local}{on_cluster}
(
    tenant_id LowCardinality(String),
    hour DateTime('UTC'),
    environment LowCardinality(String),
    service_name LowCardinality(String),
    feature LowCardinality(String),
    provider LowCardinality(String),
    request_model LowCardinality(String),
    status LowCardinality(String),
    calls SimpleAggregateFunction(sum, UInt64),
    failed_calls SimpleAggregateFunction(sum, UInt64),
    retry_calls SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_1h_tokens SimpleAggregateFunction(sum, UInt64),
    audio_input_tokens SimpleAggregateFunction(sum, UInt64),
    audio_output_tokens SimpleAggregateFunction(sum, UInt64),
    image_input_tokens SimpleAggregateFunction(sum, UInt64),
    image_output_tokens SimpleAggregateFunction(sum, UInt64),
    web_searches SimpleAggregateFunction(sum, UInt64),
    file_searches SimpleAggregateFunction(sum, UInt64),
    images SimpleAggregateFunction(sum, UInt64),
    audio_seconds SimpleAggregateFunction(sum, UInt64),
    input_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cache_read_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cache_write_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    output_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    reasoning_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    audio_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    image_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    request_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    search_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    tool_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    image_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    audio_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    emitter_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    invalid_usage_calls SimpleAggregateFunction(sum, UInt64),
    unpriced_calls SimpleAggregateFunction(sum, UInt64),
    estimated_calls SimpleAggregateFunction(sum, UInt64),
    latency_ms_sum SimpleAggregateFunction(sum, Float64),
    ttft_ms_sum SimpleAggregateFunction(sum, Float64),
    ttft_calls SimpleAggregateFunction(sum, UInt64),
    latency_ms_quantiles AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    ttft_ms_quantiles AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    retry_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    list_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    requests AggregateFunction(uniqCombined(12), String, String)
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, environment, service_name, feature, provider, request_model, status)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.usage_all_daily{local}{on_cluster}
(
    tenant_id LowCardinality(String),
    day Date,
    environment LowCardinality(String),
    service_name LowCardinality(String),
    feature LowCardinality(String),
    provider LowCardinality(String),
    request_model LowCardinality(String),
    status LowCardinality(String),
    calls SimpleAggregateFunction(sum, UInt64),
    failed_calls SimpleAggregateFunction(sum, UInt64),
    retry_calls SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_1h_tokens SimpleAggregateFunction(sum, UInt64),
    audio_input_tokens SimpleAggregateFunction(sum, UInt64),
    audio_output_tokens SimpleAggregateFunction(sum, UInt64),
    image_input_tokens SimpleAggregateFunction(sum, UInt64),
    image_output_tokens SimpleAggregateFunction(sum, UInt64),
    web_searches SimpleAggregateFunction(sum, UInt64),
    file_searches SimpleAggregateFunction(sum, UInt64),
    images SimpleAggregateFunction(sum, UInt64),
    audio_seconds SimpleAggregateFunction(sum, UInt64),
    input_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cache_read_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cache_write_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    output_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    reasoning_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    audio_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    image_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    request_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    search_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    tool_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    image_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    audio_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    emitter_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    invalid_usage_calls SimpleAggregateFunction(sum, UInt64),
    unpriced_calls SimpleAggregateFunction(sum, UInt64),
    estimated_calls SimpleAggregateFunction(sum, UInt64),
    latency_ms_sum SimpleAggregateFunction(sum, Float64),
    ttft_ms_sum SimpleAggregateFunction(sum, Float64),
    ttft_calls SimpleAggregateFunction(sum, UInt64),
    latency_ms_quantiles AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    ttft_ms_quantiles AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    retry_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    list_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    requests AggregateFunction(uniqCombined(12), String, String)
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, environment, service_name, feature, provider, request_model, status)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.features_hourly{local}{on_cluster}
(
    hour DateTime('UTC'),
    tenant_id LowCardinality(String),
    feature LowCardinality(String),
    calls SimpleAggregateFunction(sum, UInt64),
    failed_calls SimpleAggregateFunction(sum, UInt64),
    retry_calls SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_1h_tokens SimpleAggregateFunction(sum, UInt64),
    audio_input_tokens SimpleAggregateFunction(sum, UInt64),
    audio_output_tokens SimpleAggregateFunction(sum, UInt64),
    image_input_tokens SimpleAggregateFunction(sum, UInt64),
    image_output_tokens SimpleAggregateFunction(sum, UInt64),
    web_searches SimpleAggregateFunction(sum, UInt64),
    file_searches SimpleAggregateFunction(sum, UInt64),
    images SimpleAggregateFunction(sum, UInt64),
    audio_seconds SimpleAggregateFunction(sum, UInt64),
    input_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cache_read_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cache_write_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    output_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    reasoning_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    audio_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    image_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    request_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    search_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    tool_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    image_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    audio_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    emitter_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    invalid_usage_calls SimpleAggregateFunction(sum, UInt64),
    unpriced_calls SimpleAggregateFunction(sum, UInt64),
    estimated_calls SimpleAggregateFunction(sum, UInt64),
    latency_ms_sum SimpleAggregateFunction(sum, Float64),
    ttft_ms_sum SimpleAggregateFunction(sum, Float64),
    ttft_calls SimpleAggregateFunction(sum, UInt64),
    retry_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    list_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    requests AggregateFunction(uniqCombined(12), String, String)
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, tenant_id, feature)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.features_daily{local}{on_cluster}
(
    day Date,
    tenant_id LowCardinality(String),
    feature LowCardinality(String),
    calls SimpleAggregateFunction(sum, UInt64),
    failed_calls SimpleAggregateFunction(sum, UInt64),
    retry_calls SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_1h_tokens SimpleAggregateFunction(sum, UInt64),
    audio_input_tokens SimpleAggregateFunction(sum, UInt64),
    audio_output_tokens SimpleAggregateFunction(sum, UInt64),
    image_input_tokens SimpleAggregateFunction(sum, UInt64),
    image_output_tokens SimpleAggregateFunction(sum, UInt64),
    web_searches SimpleAggregateFunction(sum, UInt64),
    file_searches SimpleAggregateFunction(sum, UInt64),
    images SimpleAggregateFunction(sum, UInt64),
    audio_seconds SimpleAggregateFunction(sum, UInt64),
    input_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cache_read_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cache_write_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    output_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    reasoning_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    audio_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    image_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    request_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    search_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    tool_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    image_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    audio_fee_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    emitter_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    invalid_usage_calls SimpleAggregateFunction(sum, UInt64),
    unpriced_calls SimpleAggregateFunction(sum, UInt64),
    estimated_calls SimpleAggregateFunction(sum, UInt64),
    latency_ms_sum SimpleAggregateFunction(sum, Float64),
    ttft_ms_sum SimpleAggregateFunction(sum, Float64),
    ttft_calls SimpleAggregateFunction(sum, UInt64),
    retry_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    list_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    requests AggregateFunction(uniqCombined(12), String, String)
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, feature)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.users_hourly{local}{on_cluster}
(
    hour DateTime('UTC'),
    tenant_id LowCardinality(String),
    user_id String,
    calls SimpleAggregateFunction(sum, UInt64),
    failed_calls SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12))
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, tenant_id, user_id)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.errors_all_hourly{local}{on_cluster}
(
    tenant_id LowCardinality(String),
    hour DateTime('UTC'),
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

CREATE TABLE IF NOT EXISTS {database}.errors_all_daily{local}{on_cluster}
(
    tenant_id LowCardinality(String),
    day Date,
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
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, environment, service_name, feature, provider, request_model, error_type)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.projects_daily{local}{on_cluster}
(
    day Date,
    tenant_id LowCardinality(String),
    project LowCardinality(String),
    api_key_id LowCardinality(String),
    calls SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    unpriced_calls SimpleAggregateFunction(sum, UInt64),
    list_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12))
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, project, api_key_id)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.requests_all_hourly{local}{on_cluster}
(
    tenant_id LowCardinality(String),
    hour DateTime('UTC'),
    requests AggregateFunction(uniqCombined(12), String, String)
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.requests_all_daily{local}{on_cluster}
(
    tenant_id LowCardinality(String),
    day Date,
    requests AggregateFunction(uniqCombined(12), String, String)
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.usage_all_hourly_mv{local}{on_cluster}
TO {database}.usage_all_hourly{local}
AS SELECT
    '*all*' AS tenant_id,
    toStartOfHour(u.ts) AS hour,
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
    sum(u.output_tokens) AS output_tokens,
    sum(u.reasoning_tokens) AS reasoning_tokens,
    sum(u.cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(u.audio_input_tokens) AS audio_input_tokens,
    sum(u.audio_output_tokens) AS audio_output_tokens,
    sum(u.image_input_tokens) AS image_input_tokens,
    sum(u.image_output_tokens) AS image_output_tokens,
    sum(u.web_searches) AS web_searches,
    sum(u.file_searches) AS file_searches,
    sum(u.images) AS images,
    sum(u.audio_seconds) AS audio_seconds,
    sum(ifNull(u.input_cost_usd, 0)) AS input_cost_usd,
    sum(ifNull(u.cache_read_cost_usd, 0)) AS cache_read_cost_usd,
    sum(ifNull(u.cache_write_cost_usd, 0)) AS cache_write_cost_usd,
    sum(ifNull(u.output_cost_usd, 0)) AS output_cost_usd,
    sum(ifNull(u.reasoning_cost_usd, 0)) AS reasoning_cost_usd,
    sum(ifNull(u.audio_cost_usd, 0)) AS audio_cost_usd,
    sum(ifNull(u.image_cost_usd, 0)) AS image_cost_usd,
    sum(ifNull(u.request_fee_usd, 0)) AS request_fee_usd,
    sum(ifNull(u.search_fee_usd, 0)) AS search_fee_usd,
    sum(ifNull(u.tool_fee_usd, 0)) AS tool_fee_usd,
    sum(ifNull(u.image_fee_usd, 0)) AS image_fee_usd,
    sum(ifNull(u.audio_fee_usd, 0)) AS audio_fee_usd,
    sum(ifNull(u.cost_usd, 0)) AS cost_usd,
    sum(ifNull(u.emitter_cost_usd, 0)) AS emitter_cost_usd,
    countIf(u.cost_status = 'invalid_usage') AS invalid_usage_calls,
    countIf(u.cost_status = 'unpriced') AS unpriced_calls,
    countIf(u.cost_status = 'estimated') AS estimated_calls,
    sum(u.latency_ms) AS latency_ms_sum,
    sum(ifNull(u.ttft_ms, 0)) AS ttft_ms_sum,
    countIf(u.ttft_ms IS NOT NULL) AS ttft_calls,
    quantilesTDigestState(0.5, 0.95, 0.99)(u.latency_ms) AS latency_ms_quantiles,
    quantilesTDigestStateIf(0.5, 0.95, 0.99)(ifNull(u.ttft_ms, 0), u.ttft_ms IS NOT NULL) AS ttft_ms_quantiles,
    sumIf(ifNull(u.cost_usd, 0), u.attempt > 1) AS retry_cost_usd,
    sum(toDecimal128(toDecimal256(ifNull(u.cost_usd, 0), 12) / if(u.price_multiplier = 0, toDecimal64(1, 9), u.price_multiplier), 12)) AS list_cost_usd,
    uniqCombinedState(12)(toString(u.tenant_id), u.request_id) AS requests
FROM {database}.llm_usage{local} AS u
GROUP BY tenant_id, hour, environment, service_name, feature, provider, request_model, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.usage_all_daily_mv{local}{on_cluster}
TO {database}.usage_all_daily{local}
AS SELECT
    '*all*' AS tenant_id,
    toDate(u.hour) AS day,
    u.environment AS environment,
    u.service_name AS service_name,
    u.feature AS feature,
    u.provider AS provider,
    u.request_model AS request_model,
    u.status AS status,
    sum(u.calls) AS calls,
    sum(u.failed_calls) AS failed_calls,
    sum(u.retry_calls) AS retry_calls,
    sum(u.input_tokens) AS input_tokens,
    sum(u.cache_read_tokens) AS cache_read_tokens,
    sum(u.cache_write_tokens) AS cache_write_tokens,
    sum(u.output_tokens) AS output_tokens,
    sum(u.reasoning_tokens) AS reasoning_tokens,
    sum(u.cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(u.audio_input_tokens) AS audio_input_tokens,
    sum(u.audio_output_tokens) AS audio_output_tokens,
    sum(u.image_input_tokens) AS image_input_tokens,
    sum(u.image_output_tokens) AS image_output_tokens,
    sum(u.web_searches) AS web_searches,
    sum(u.file_searches) AS file_searches,
    sum(u.images) AS images,
    sum(u.audio_seconds) AS audio_seconds,
    sum(u.input_cost_usd) AS input_cost_usd,
    sum(u.cache_read_cost_usd) AS cache_read_cost_usd,
    sum(u.cache_write_cost_usd) AS cache_write_cost_usd,
    sum(u.output_cost_usd) AS output_cost_usd,
    sum(u.reasoning_cost_usd) AS reasoning_cost_usd,
    sum(u.audio_cost_usd) AS audio_cost_usd,
    sum(u.image_cost_usd) AS image_cost_usd,
    sum(u.request_fee_usd) AS request_fee_usd,
    sum(u.search_fee_usd) AS search_fee_usd,
    sum(u.tool_fee_usd) AS tool_fee_usd,
    sum(u.image_fee_usd) AS image_fee_usd,
    sum(u.audio_fee_usd) AS audio_fee_usd,
    sum(u.cost_usd) AS cost_usd,
    sum(u.emitter_cost_usd) AS emitter_cost_usd,
    sum(u.invalid_usage_calls) AS invalid_usage_calls,
    sum(u.unpriced_calls) AS unpriced_calls,
    sum(u.estimated_calls) AS estimated_calls,
    sum(u.latency_ms_sum) AS latency_ms_sum,
    sum(u.ttft_ms_sum) AS ttft_ms_sum,
    sum(u.ttft_calls) AS ttft_calls,
    quantilesTDigestMergeState(0.5, 0.95, 0.99)(u.latency_ms_quantiles) AS latency_ms_quantiles,
    quantilesTDigestMergeState(0.5, 0.95, 0.99)(u.ttft_ms_quantiles) AS ttft_ms_quantiles,
    sum(u.retry_cost_usd) AS retry_cost_usd,
    sum(u.list_cost_usd) AS list_cost_usd,
    uniqCombinedMergeState(12)(u.requests) AS requests
FROM {database}.usage_all_hourly{local} AS u
GROUP BY tenant_id, day, environment, service_name, feature, provider, request_model, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.features_hourly_mv{local}{on_cluster}
TO {database}.features_hourly{local}
AS SELECT
    toStartOfHour(u.ts) AS hour,
    u.tenant_id AS tenant_id,
    u.feature AS feature,
    count() AS calls,
    countIf(u.status = 'error') AS failed_calls,
    countIf(u.attempt > 1) AS retry_calls,
    sum(u.input_tokens) AS input_tokens,
    sum(u.cache_read_tokens) AS cache_read_tokens,
    sum(u.cache_write_tokens) AS cache_write_tokens,
    sum(u.output_tokens) AS output_tokens,
    sum(u.reasoning_tokens) AS reasoning_tokens,
    sum(u.cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(u.audio_input_tokens) AS audio_input_tokens,
    sum(u.audio_output_tokens) AS audio_output_tokens,
    sum(u.image_input_tokens) AS image_input_tokens,
    sum(u.image_output_tokens) AS image_output_tokens,
    sum(u.web_searches) AS web_searches,
    sum(u.file_searches) AS file_searches,
    sum(u.images) AS images,
    sum(u.audio_seconds) AS audio_seconds,
    sum(ifNull(u.input_cost_usd, 0)) AS input_cost_usd,
    sum(ifNull(u.cache_read_cost_usd, 0)) AS cache_read_cost_usd,
    sum(ifNull(u.cache_write_cost_usd, 0)) AS cache_write_cost_usd,
    sum(ifNull(u.output_cost_usd, 0)) AS output_cost_usd,
    sum(ifNull(u.reasoning_cost_usd, 0)) AS reasoning_cost_usd,
    sum(ifNull(u.audio_cost_usd, 0)) AS audio_cost_usd,
    sum(ifNull(u.image_cost_usd, 0)) AS image_cost_usd,
    sum(ifNull(u.request_fee_usd, 0)) AS request_fee_usd,
    sum(ifNull(u.search_fee_usd, 0)) AS search_fee_usd,
    sum(ifNull(u.tool_fee_usd, 0)) AS tool_fee_usd,
    sum(ifNull(u.image_fee_usd, 0)) AS image_fee_usd,
    sum(ifNull(u.audio_fee_usd, 0)) AS audio_fee_usd,
    sum(ifNull(u.cost_usd, 0)) AS cost_usd,
    sum(ifNull(u.emitter_cost_usd, 0)) AS emitter_cost_usd,
    countIf(u.cost_status = 'invalid_usage') AS invalid_usage_calls,
    countIf(u.cost_status = 'unpriced') AS unpriced_calls,
    countIf(u.cost_status = 'estimated') AS estimated_calls,
    sum(u.latency_ms) AS latency_ms_sum,
    sum(ifNull(u.ttft_ms, 0)) AS ttft_ms_sum,
    countIf(u.ttft_ms IS NOT NULL) AS ttft_calls,
    sumIf(ifNull(u.cost_usd, 0), u.attempt > 1) AS retry_cost_usd,
    sum(toDecimal128(toDecimal256(ifNull(u.cost_usd, 0), 12) / if(u.price_multiplier = 0, toDecimal64(1, 9), u.price_multiplier), 12)) AS list_cost_usd,
    uniqCombinedState(12)(toString(u.tenant_id), u.request_id) AS requests
FROM {database}.llm_usage{local} AS u
GROUP BY hour, tenant_id, feature;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.features_daily_mv{local}{on_cluster}
TO {database}.features_daily{local}
AS SELECT
    toDate(u.hour) AS day,
    u.tenant_id AS tenant_id,
    u.feature AS feature,
    sum(u.calls) AS calls,
    sum(u.failed_calls) AS failed_calls,
    sum(u.retry_calls) AS retry_calls,
    sum(u.input_tokens) AS input_tokens,
    sum(u.cache_read_tokens) AS cache_read_tokens,
    sum(u.cache_write_tokens) AS cache_write_tokens,
    sum(u.output_tokens) AS output_tokens,
    sum(u.reasoning_tokens) AS reasoning_tokens,
    sum(u.cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(u.audio_input_tokens) AS audio_input_tokens,
    sum(u.audio_output_tokens) AS audio_output_tokens,
    sum(u.image_input_tokens) AS image_input_tokens,
    sum(u.image_output_tokens) AS image_output_tokens,
    sum(u.web_searches) AS web_searches,
    sum(u.file_searches) AS file_searches,
    sum(u.images) AS images,
    sum(u.audio_seconds) AS audio_seconds,
    sum(u.input_cost_usd) AS input_cost_usd,
    sum(u.cache_read_cost_usd) AS cache_read_cost_usd,
    sum(u.cache_write_cost_usd) AS cache_write_cost_usd,
    sum(u.output_cost_usd) AS output_cost_usd,
    sum(u.reasoning_cost_usd) AS reasoning_cost_usd,
    sum(u.audio_cost_usd) AS audio_cost_usd,
    sum(u.image_cost_usd) AS image_cost_usd,
    sum(u.request_fee_usd) AS request_fee_usd,
    sum(u.search_fee_usd) AS search_fee_usd,
    sum(u.tool_fee_usd) AS tool_fee_usd,
    sum(u.image_fee_usd) AS image_fee_usd,
    sum(u.audio_fee_usd) AS audio_fee_usd,
    sum(u.cost_usd) AS cost_usd,
    sum(u.emitter_cost_usd) AS emitter_cost_usd,
    sum(u.invalid_usage_calls) AS invalid_usage_calls,
    sum(u.unpriced_calls) AS unpriced_calls,
    sum(u.estimated_calls) AS estimated_calls,
    sum(u.latency_ms_sum) AS latency_ms_sum,
    sum(u.ttft_ms_sum) AS ttft_ms_sum,
    sum(u.ttft_calls) AS ttft_calls,
    sum(u.retry_cost_usd) AS retry_cost_usd,
    sum(u.list_cost_usd) AS list_cost_usd,
    uniqCombinedMergeState(12)(u.requests) AS requests
FROM {database}.features_hourly{local} AS u
GROUP BY day, tenant_id, feature;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.users_hourly_mv{local}{on_cluster}
TO {database}.users_hourly{local}
AS SELECT
    toStartOfHour(u.ts) AS hour,
    u.tenant_id AS tenant_id,
    u.user_id AS user_id,
    count() AS calls,
    countIf(u.status = 'error') AS failed_calls,
    sum(ifNull(u.cost_usd, 0)) AS cost_usd
FROM {database}.llm_usage{local} AS u
GROUP BY hour, tenant_id, user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.errors_all_hourly_mv{local}{on_cluster}
TO {database}.errors_all_hourly{local}
AS SELECT
    '*all*' AS tenant_id,
    u.hour AS hour,
    u.environment AS environment,
    u.service_name AS service_name,
    u.feature AS feature,
    u.provider AS provider,
    u.request_model AS request_model,
    u.error_type AS error_type,
    sum(u.failed_calls) AS failed_calls,
    sum(u.cost_usd) AS cost_usd
FROM {database}.errors_hourly{local} AS u
GROUP BY tenant_id, hour, environment, service_name, feature, provider, request_model, error_type;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.errors_all_daily_mv{local}{on_cluster}
TO {database}.errors_all_daily{local}
AS SELECT
    '*all*' AS tenant_id,
    toDate(u.hour) AS day,
    u.environment AS environment,
    u.service_name AS service_name,
    u.feature AS feature,
    u.provider AS provider,
    u.request_model AS request_model,
    u.error_type AS error_type,
    sum(u.failed_calls) AS failed_calls,
    sum(u.cost_usd) AS cost_usd
FROM {database}.errors_all_hourly{local} AS u
GROUP BY tenant_id, day, environment, service_name, feature, provider, request_model, error_type;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.projects_daily_mv{local}{on_cluster}
TO {database}.projects_daily{local}
AS SELECT
    toDate(u.hour) AS day,
    u.tenant_id AS tenant_id,
    u.project AS project,
    u.api_key_id AS api_key_id,
    sum(u.calls) AS calls,
    sum(u.cost_usd) AS cost_usd,
    sum(u.unpriced_calls) AS unpriced_calls,
    sum(u.list_cost_usd) AS list_cost_usd
FROM {database}.projects_hourly{local} AS u
GROUP BY day, tenant_id, project, api_key_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.requests_all_hourly_mv{local}{on_cluster}
TO {database}.requests_all_hourly{local}
AS SELECT
    '*all*' AS tenant_id,
    u.hour AS hour,
    uniqCombinedMergeState(12)(u.requests) AS requests
FROM {database}.usage_all_hourly{local} AS u
GROUP BY tenant_id, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.requests_all_daily_mv{local}{on_cluster}
TO {database}.requests_all_daily{local}
AS SELECT
    '*all*' AS tenant_id,
    toDate(u.hour) AS day,
    uniqCombinedMergeState(12)(u.requests) AS requests
FROM {database}.requests_all_hourly{local} AS u
GROUP BY tenant_id, day;
