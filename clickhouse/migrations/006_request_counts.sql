-- Request counts per hour by every rollup dimension but status, kept by a materialized view from llm_usage:
-- the overview's and `stats`' request counts merge these sets instead of re-reading requests or raw rows.
-- Same dedup window as llm_usage. After this migration the table is built from the rows already stored.
CREATE TABLE IF NOT EXISTS {database}.request_counts_hourly{local}{on_cluster}
(
{request_counts_hourly_columns}
)
ENGINE = {replicated}AggregatingMergeTree{replica}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, environment, service_name, feature, provider, request_model)
SETTINGS {dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.request_counts_hourly_mv{local}{on_cluster}
TO {database}.request_counts_hourly{local}
AS {request_counts_hourly_select};
