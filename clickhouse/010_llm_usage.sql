-- One row per LLM call: attributed (tenant, feature, request, attempt) and priced (Decimal USD by kind).
-- Tenant leads the sort key because dashboards and charge-back queries filter by tenant and time.
CREATE TABLE IF NOT EXISTS {database}.llm_usage
(
{columns},
    INDEX idx_request_id request_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, toStartOfHour(ts), feature, request_model, trace_id, span_id)
SETTINGS index_granularity = 8192
