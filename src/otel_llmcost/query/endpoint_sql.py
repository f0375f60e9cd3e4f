"""The SQL of the named endpoints (/api/v1/usage, /api/v1/performance), raw table or hourly rollup.

Identifiers come from the fixed maps below; values are {name:Type} parameters. Both sources answer the
same question the same way: `model` is the model asked for (request_model, a rollup dimension), quantiles
are t-digests (what the rollup stores), averages are sums over counts. Aliases never reuse a column's name
(ClickHouse would read the alias inside later aggregates).
"""

from __future__ import annotations

from otel_llmcost.kinds import COUNTS

RAW, HOURLY = "llm_usage", "usage_hourly"

#: by= -> (expression on llm_usage, expression on usage_hourly or None when the rollup lacks it)
GROUPS = {
    "model": ("request_model", "request_model"),
    "provider": ("provider", "provider"),
    "tenant": ("tenant_id", "tenant_id"),
    "feature": ("feature", "feature"),
    "user": ("user_id", None),
    "day": ("toString(toDate(ts))", "toString(toDate(hour))"),
}
PERFORMANCE_GROUPS = ("model", "provider")
#: filter parameter -> column, on both sources ("user" only on the raw table)
FILTERS = {"tenant": "tenant_id", "feature": "feature", "provider": "provider", "model": "request_model",
           "user": "user_id"}
_TIME = {RAW: "ts", HOURLY: "hour"}
_TOKENS = ", ".join(f"sum({kind}) AS {kind}" for kind in COUNTS)


def _where(source: str, filters: list[str]) -> str:
    time = _TIME[source]
    conditions = [f"{time} >= {{since:DateTime64(6, 'UTC')}}", f"{time} < {{until:DateTime64(6, 'UTC')}}"]
    conditions += [f"{FILTERS[name]} = {{{name}:String}}" for name in filters]
    return " AND ".join(conditions)


def usage(database: str, source: str, by: str, filters: list[str]) -> str:
    group = GROUPS[by][0 if source == RAW else 1]
    if source == RAW:
        counts = ("count() AS calls, countIf(status = 'error') AS failed_calls,"
                  " countIf(llm_usage.cost_status = 'unpriced') AS unpriced_calls, sum(llm_usage.cost_usd) AS cost_usd")
    else:  # the rollup's sum of no priced call is 0; the raw table's is NULL: answer NULL from both
        counts = ("sum(calls) AS calls, sum(failed_calls) AS failed_calls, sum(unpriced_calls) AS unpriced_calls,"
                  " if(sum(usage_hourly.calls)"
                  " = sum(usage_hourly.unpriced_calls) + sum(usage_hourly.invalid_usage_calls),"
                  " NULL, sum(usage_hourly.cost_usd))"
                  " AS cost_usd")
    return (f"SELECT {group} AS group, {counts}, {_TOKENS}"
            f" FROM {database}.{source} WHERE {_where(source, filters)}"
            " GROUP BY group ORDER BY cost_usd DESC NULLS LAST, calls DESC, group")


def performance(database: str, source: str, by: str, filters: list[str]) -> str:
    group = GROUPS[by][0 if source == RAW else 1]
    if source == RAW:
        measures = ("count() AS calls, countIf(status = 'error') AS failed_calls,"
                    " quantilesTDigest(0.5, 0.95, 0.99)(latency_ms) AS latency_quantiles,"
                    " quantilesTDigestIf(0.5, 0.95, 0.99)(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL)"
                    " AS ttft_quantiles,"
                    " countIf(ttft_ms IS NOT NULL) AS ttft_calls, sum(output_tokens) AS output_tokens,"
                    " sum(latency_ms) AS latency_ms_sum")
    else:
        measures = ("sum(calls) AS calls, sum(failed_calls) AS failed_calls,"
                    " quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_ms_quantiles) AS latency_quantiles,"
                    " quantilesTDigestMerge(0.5, 0.95, 0.99)(ttft_ms_quantiles) AS ttft_quantiles,"
                    " sum(ttft_calls) AS ttft_calls, sum(output_tokens) AS output_tokens,"
                    " sum(latency_ms_sum) AS latency_ms_sum")
    return (f"SELECT {group} AS group, {measures} FROM {database}.{source} WHERE {_where(source, filters)}"
            " GROUP BY group ORDER BY calls DESC, group")
