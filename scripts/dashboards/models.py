"""Model performance: latency percentiles, time to first token, errors, tokens per second."""

from __future__ import annotations

from otel_llmcost.store.rollups import (
    ERRORS_ALL_DAILY,
    ERRORS_ALL_HOURLY,
    ERRORS_HOURLY,
    LATENCY_DAILY,
    LATENCY_HOURLY,
    USAGE_ALL_DAILY,
    USAGE_ALL_HOURLY,
)
from scripts.dashboards.panels import Layout, dashboard, panel, units
from scripts.dashboards.sql import DB, EVERY_TENANT, HOURS, USER_ALL, facts, fill, fits, raw_calls, rollup_rows


def _percentiles(state: str, raw: str) -> str:
    """p50/p95/p99 per provider and model: merged rollup states (over all tenants from usage_all_*, else from
    the latency rollups while the variables they have no column for are All), or raw rows once users are
    picked."""
    columns = f"provider, request_model, {state}"
    every = rollup_rows(columns, by_day=True, hourly=USAGE_ALL_HOURLY, daily=USAGE_ALL_DAILY, only=EVERY_TENANT)
    by_model = rollup_rows(columns, by_day=True, hourly=LATENCY_HOURLY, daily=LATENCY_DAILY,
                           only=f"NOT ({EVERY_TENANT})")
    by_everything = rollup_rows(columns, by_day=True, only=f"NOT ({fits(LATENCY_HOURLY)}) AND NOT ({EVERY_TENANT})")
    return f"""
SELECT provider, request_model AS model, q[1] AS p50_ms, q[2] AS p95_ms, q[3] AS p99_ms FROM (
  SELECT provider, request_model, quantilesTDigestMerge(0.5, 0.95, 0.99)({state}) AS q
  FROM ({every}
  UNION ALL
  {by_model}
  UNION ALL
  {by_everything})
  GROUP BY provider, request_model
  UNION ALL
  SELECT provider, request_model, {raw} AS q
  FROM {DB}.llm_usage
  WHERE {raw_calls()} AND NOT ({USER_ALL})
  GROUP BY provider, request_model)
WHERE notEmpty(q) AND q[1] > 0
ORDER BY provider, model
"""


LATENCY = _percentiles("latency_ms_quantiles", "quantilesTDigest(0.5, 0.95, 0.99)(latency_ms)")
TTFT = _percentiles("ttft_ms_quantiles", "quantilesTDigestIf(0.5, 0.95, 0.99)(ifNull(ttft_ms, 0), ttft_ms IS NOT NULL)")

#: Failed calls by error type from errors_all_* over all tenants, else errors_hourly (the raw calls once users are
#: picked), over all calls.
ERRORS_BY_TYPE = f"""
WITH {facts(by_day=True, keep=("provider", "request_model", "calls"))},
errors AS (
  SELECT provider, request_model, error_type, failed_calls FROM (
  {rollup_rows("provider, request_model, error_type, failed_calls", by_day=True, hourly=ERRORS_ALL_HOURLY,
               daily=ERRORS_ALL_DAILY, only=EVERY_TENANT)}
  UNION ALL
  {rollup_rows("provider, request_model, error_type, failed_calls", hourly=ERRORS_HOURLY,
               only=f"NOT ({EVERY_TENANT})")})
  UNION ALL
  SELECT provider, request_model, error_type, toUInt64(1) FROM {DB}.llm_usage
  WHERE {raw_calls("status = 'error'")} AND NOT ({USER_ALL})
)
SELECT provider, request_model AS model, error_type, sum(failed_calls) AS failed_calls,
  round(failed_calls / any(totals.calls), 4) AS share_of_calls
FROM errors
LEFT JOIN (SELECT provider, request_model, sum(calls) AS calls FROM facts GROUP BY provider, request_model) AS totals
  USING (provider, request_model)
GROUP BY provider, model, error_type
ORDER BY failed_calls DESC
"""


def build() -> dict:
    f = facts(keep=("request_model", "calls", "failed_calls", "latency_ms_sum"))
    by_day = facts(by_day=True, keep=("provider", "request_model", "calls", "failed_calls", "output_tokens", "status",
                                      "latency_ms_sum", "ttft_ms_sum", "ttft_calls"))
    layout = Layout()
    ms = dict(p50_ms="ms", p95_ms="ms", p99_ms="ms")
    layout.add(panel("table", "Latency by model", LATENCY, "Call latency percentiles (t-digest).",
                     overrides=units(**ms)), 12, 8)
    layout.add(panel("table", "Time to first token by model", TTFT, "Streamed calls only.", overrides=units(**ms)),
               12, 8)
    layout.add(panel("table", "Throughput and errors by model", f"WITH {by_day}\nSELECT provider, request_model "
                     "AS model, sum(calls) AS calls, round(sum(failed_calls) / calls, 4) AS error_rate,\n"
                     "  round(sumIf(output_tokens, status != 'error') / nullIf(sumIf(latency_ms_sum, status != "
                     "'error'), 0) * 1000, 1) AS output_tokens_per_second,\n"
                     "  round(sum(ttft_ms_sum) / nullIf(sum(ttft_calls), 0), 1) AS avg_ttft_ms,\n"
                     "  round(sum(latency_ms_sum) / calls, 1) AS avg_latency_ms\nFROM facts GROUP BY provider, "
                     "model ORDER BY calls DESC", "Output tokens per second of successful calls; error rate over "
                     "all calls.", overrides=units(error_rate="percentunit", avg_ttft_ms="ms", avg_latency_ms="ms")),
               12, 8)
    layout.add(panel("table", "Errors by type", ERRORS_BY_TYPE, "Failed calls by error type, and their share of "
                     "the model's calls.",
                     overrides=units(share_of_calls="percentunit")), 12, 8)
    layout.add(panel("timeseries", "Error rate per hour by model", f"WITH {f}\nSELECT * FROM (\n  SELECT {HOURS} AS "
                     "time, request_model AS model, sum(failed_calls) / greatest(sum(calls), 1) AS error_rate\n"
                     f"  FROM facts GROUP BY time, model ORDER BY model, time {fill()})\nORDER BY time, model",
                     "0 where a model had no calls.", "percentunit"), 12, 8)
    layout.add(panel("timeseries", "Average latency per hour by model", f"WITH {f}\nSELECT * FROM (\n  SELECT "
                     f"{HOURS} AS time, request_model AS model, sum(latency_ms_sum) / greatest(sum(calls), 1) AS "
                     f"avg_latency_ms\n  FROM facts GROUP BY time, model ORDER BY model, time {fill()})\nORDER BY "
                     "time, model", "0 where a model had no calls.", "ms"), 12, 8)
    return dashboard("llmcost-models", "LLM cost: model performance", "Latency, time to first token, errors and "
                     "throughput by model and provider.", layout)

