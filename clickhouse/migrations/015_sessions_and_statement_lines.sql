-- Migration 015 (issue 21): the most expensive sessions and the statement's grain, for dashboards at 100 M calls.
-- Literal SQL, frozen once applied; columns and SELECTs rendered from store/rollups.py.
-- sessions_daily: spend per tenant, session and day, sorted by session (a session's days are one lookup), with a
-- minmax index on its cost (the rows above a floor are a few granules); session_peaks_daily: per tenant and day
-- the 100 costliest of its session-day rows (negated: groupArraySorted keeps the lowest), fed from
-- sessions_daily's inserted rows; over a range's days their 100th is the floor the panel reads above;
-- session_peaks_all_daily: the same over every tenant's session-days (tenant '*all*'), a state per day.
-- statement_hourly/_daily: calls, list and effective cost by tenant, project, feature, provider and billed model
-- (the one that answered, else the one asked): the statement's line, whose billed cost is rounded per line and
-- day, so only sums at this grain give its figures (the daily table fed from the hourly one's rows). The hourly
-- table is sorted by hour first: the hours at a range's ends are those hours' granules for all tenants.
-- llm_usage's projection sorted by time is made again as by_ts with response_model (a line's model for the partial
-- hours at a range's ends); by_time is dropped. All are filled from the rows already stored after this
-- migration (store/migrations.py).
ALTER TABLE {database}.llm_usage{local}{on_cluster} DROP PROJECTION IF EXISTS by_time;

ALTER TABLE {database}.llm_usage{local}{on_cluster}
    ADD PROJECTION IF NOT EXISTS by_ts (
    SELECT ts, tenant_id, environment, service_name, feature, user_id, request_id, attempt, provider,
        request_model, response_model, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,
        reasoning_tokens, cache_write_1h_tokens, audio_input_tokens, audio_output_tokens, image_input_tokens,
        image_output_tokens, web_searches, file_searches, images, audio_seconds, input_cost_usd, cache_read_cost_usd,
        cache_write_cost_usd, output_cost_usd, reasoning_cost_usd, audio_cost_usd, image_cost_usd,
        request_fee_usd, search_fee_usd, tool_fee_usd, image_fee_usd, audio_fee_usd, cost_usd, emitter_cost_usd,
        cost_status, price_multiplier, status, error_type, latency_ms, ttft_ms, project, api_key_id
    ORDER BY ts);

CREATE TABLE IF NOT EXISTS {database}.sessions_daily{local}{on_cluster}
(
    tenant_id LowCardinality(String),
    session_id String,
    day Date,
    calls SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    requests AggregateFunction(uniqCombined(12), String, String),
    first_ts SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_ts SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    INDEX cost_usd_minmax cost_usd TYPE minmax GRANULARITY 1
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, session_id, day)
SETTINGS index_granularity = 256, {dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.sessions_daily_mv{local}{on_cluster}
TO {database}.sessions_daily{local}
AS SELECT
    u.tenant_id AS tenant_id,
    u.session_id AS session_id,
    toDate(u.ts) AS day,
    count() AS calls,
    sum(ifNull(u.cost_usd, 0)) AS cost_usd,
    uniqCombinedState(12)(toString(u.tenant_id), u.request_id) AS requests,
    min(u.ts) AS first_ts,
    max(u.ts) AS last_ts
FROM {database}.llm_usage{local} AS u
WHERE (u.session_id != '')
GROUP BY tenant_id, session_id, day;

CREATE TABLE IF NOT EXISTS {database}.session_peaks_daily{local}{on_cluster}
(
    tenant_id LowCardinality(String),
    day Date,
    peak_costs AggregateFunction(groupArraySorted(100), Decimal(38, 12))
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.session_peaks_daily_mv{local}{on_cluster}
TO {database}.session_peaks_daily{local}
AS SELECT
    u.tenant_id AS tenant_id,
    u.day AS day,
    groupArraySortedState(100)(-u.cost_usd) AS peak_costs
FROM {database}.sessions_daily{local} AS u
GROUP BY tenant_id, day;

CREATE TABLE IF NOT EXISTS {database}.session_peaks_all_daily{local}{on_cluster}
(
    tenant_id LowCardinality(String),
    day Date,
    peak_costs AggregateFunction(groupArraySorted(100), Decimal(38, 12))
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.session_peaks_all_daily_mv{local}{on_cluster}
TO {database}.session_peaks_all_daily{local}
AS SELECT
    '*all*' AS tenant_id,
    u.day AS day,
    groupArraySortedState(100)(-u.cost_usd) AS peak_costs
FROM {database}.sessions_daily{local} AS u
GROUP BY tenant_id, day;

CREATE TABLE IF NOT EXISTS {database}.statement_hourly{local}{on_cluster}
(
    hour DateTime('UTC'),
    tenant_id LowCardinality(String),
    project LowCardinality(String),
    feature LowCardinality(String),
    provider LowCardinality(String),
    model LowCardinality(String),
    calls SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    list_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12))
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, tenant_id, project, feature, provider, model)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.statement_hourly_mv{local}{on_cluster}
TO {database}.statement_hourly{local}
AS SELECT
    toStartOfHour(u.ts) AS hour,
    u.tenant_id AS tenant_id,
    u.project AS project,
    u.feature AS feature,
    u.provider AS provider,
    if(u.response_model != '', u.response_model, u.request_model) AS model,
    count() AS calls,
    sum(ifNull(u.cost_usd, 0)) AS cost_usd,
    sum(toDecimal128(toDecimal256(ifNull(u.cost_usd, 0), 12) / if(u.price_multiplier = 0, toDecimal64(1, 9), u.price_multiplier), 12)) AS list_cost_usd
FROM {database}.llm_usage{local} AS u
GROUP BY hour, tenant_id, project, feature, provider, model;

CREATE TABLE IF NOT EXISTS {database}.statement_daily{local}{on_cluster}
(
    day Date,
    tenant_id LowCardinality(String),
    project LowCardinality(String),
    feature LowCardinality(String),
    provider LowCardinality(String),
    model LowCardinality(String),
    calls SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    list_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12))
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, project, feature, provider, model)
SETTINGS index_granularity = 256, {dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.statement_daily_mv{local}{on_cluster}
TO {database}.statement_daily{local}
AS SELECT
    toDate(u.hour) AS day,
    u.tenant_id AS tenant_id,
    u.project AS project,
    u.feature AS feature,
    u.provider AS provider,
    u.model AS model,
    sum(u.calls) AS calls,
    sum(u.cost_usd) AS cost_usd,
    sum(u.list_cost_usd) AS list_cost_usd
FROM {database}.statement_hourly{local} AS u
GROUP BY day, tenant_id, project, feature, provider, model;
