-- Hourly and daily rollups and per-request summaries, kept by materialized views from llm_usage.
-- Each view target has the same dedup window as llm_usage: a repeated batch is dropped there too.
-- After this migration the three tables are rebuilt from the rows already in llm_usage.
-- Columns and SELECTs are rendered from store/rollups.py (one column list for all).
CREATE TABLE IF NOT EXISTS {database}.usage_hourly{local}{on_cluster}
(
{usage_hourly_columns}
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, environment, service_name, feature, provider, request_model, status)
SETTINGS {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.usage_daily{local}{on_cluster}
(
{usage_daily_columns}
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, environment, service_name, feature, provider, request_model, status)
SETTINGS {dedup_window};

CREATE TABLE IF NOT EXISTS {database}.requests{local}{on_cluster}
(
{requests_columns},
    INDEX idx_request_id request_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, request_id)
SETTINGS {dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.usage_hourly_mv{local}{on_cluster}
TO {database}.usage_hourly{local}
AS {usage_hourly_select};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.usage_daily_mv{local}{on_cluster}
TO {database}.usage_daily{local}
AS {usage_daily_select};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.requests_mv{local}{on_cluster}
TO {database}.requests{local}
AS {requests_select};
