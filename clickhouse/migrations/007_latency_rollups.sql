-- Latency and time-to-first-token percentile states by tenant, provider and requested model, per hour and
-- per day, kept by materialized views from llm_usage (columns and SELECTs from store/rollups.py): the
-- model panels merge ~25 times fewer t-digest states than from usage_hourly. Built from the stored rows
-- after this migration.
CREATE TABLE IF NOT EXISTS {database}.latency_hourly{local}{on_cluster}
(
{latency_hourly_columns}
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, provider, request_model)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.latency_daily{local}{on_cluster}
(
{latency_daily_columns}
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, provider, request_model)
SETTINGS index_granularity = 1024, {dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.latency_hourly_mv{local}{on_cluster}
TO {database}.latency_hourly{local}
AS {latency_hourly_select};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.latency_daily_mv{local}{on_cluster}
TO {database}.latency_daily{local}
AS {latency_daily_select};
