-- What the dashboards need beyond migration 003, kept by materialized views from llm_usage like its
-- rollups (same dedup window; columns and SELECTs rendered from store/rollups.py):
--   request_counts_hourly: exact sets of requests per hour by every rollup dimension but status;
--   errors_hourly: failed calls per hour by those dimensions and error type;
--   users_daily: calls, tokens and costs per tenant, day and user;
--   usage_hourly and usage_daily gain retry_cost_usd (the cost of attempts after the first).
-- After this migration all five are built from the rows already stored. The new tables have granules of
-- 1,024 rows: with tenant_id leading the sort key, 8,192-row granules span days of one tenant, so a query
-- over all tenants and one day read most of the table (usage_hourly keeps 8,192: changing it means a copy).
CREATE TABLE IF NOT EXISTS {database}.request_counts_hourly{local}{on_cluster}
(
{request_counts_hourly_columns}
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, environment, service_name, feature, provider, request_model)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.errors_hourly{local}{on_cluster}
(
{errors_hourly_columns}
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, environment, service_name, feature, provider, request_model, error_type)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.users_daily{local}{on_cluster}
(
{users_daily_columns}
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, user_id)
SETTINGS index_granularity = 1024, {dedup_window};

ALTER TABLE {database}.usage_hourly{local}{on_cluster}
    ADD COLUMN IF NOT EXISTS retry_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12));

ALTER TABLE {database}.usage_daily{local}{on_cluster}
    ADD COLUMN IF NOT EXISTS retry_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12));

ALTER TABLE {database}.usage_hourly_mv{local}{on_cluster} MODIFY QUERY {usage_hourly_select};

ALTER TABLE {database}.usage_daily_mv{local}{on_cluster} MODIFY QUERY {usage_daily_select};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.request_counts_hourly_mv{local}{on_cluster}
TO {database}.request_counts_hourly{local}
AS {request_counts_hourly_select};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.errors_hourly_mv{local}{on_cluster}
TO {database}.errors_hourly{local}
AS {errors_hourly_select};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.users_daily_mv{local}{on_cluster}
TO {database}.users_daily{local}
AS {users_daily_select};
