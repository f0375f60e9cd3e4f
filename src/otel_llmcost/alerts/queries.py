"""The alert queries, once: `otel-llmcost anomalies`/`budgets` run them with query parameters, and the Grafana
alert rules are the same text with the parameters written in as literals (`inline`).

"Today" is the 24 hourly buckets ending with the current one, compared with the `baseline_days` days before
it: a rolling day, so the comparison is as fair at 01:00 as at 23:00 (the demo's --spike uses the same
window). The rollups are read everywhere but for the silence check, which needs minutes, not hours.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from otel_llmcost.alerts import budgets
from otel_llmcost.alerts.rules import AlertRules

_TODAY = "toStartOfHour(now('UTC')) - INTERVAL 23 HOUR"

#: (a) Per tenant, feature and model: today's spend against the daily average of the days before it that have
#: history. A group first seen 2 days ago is averaged over those 2 days, not over `baseline_days` (which would
#: make its every ordinary day look like an anomaly in a store's first week); `history_days` says how many.
#: History runs from the group's first hourly bucket in the window; a group with none fires on today alone.
SPEND_ANOMALIES = f"""
SELECT tenant_id, feature, request_model AS model,
    sumIf(cost_usd, hour >= {_TODAY}) AS today_usd,
    least(toUInt32({{baseline_days:UInt32}}) * 24,
          toUInt32(greatest(dateDiff('hour', minIf(hour, hour < {_TODAY}), {_TODAY}), 0))) AS history_hours,
    round(history_hours / 24, 1) AS history_days,
    sumIf(cost_usd, hour < {_TODAY}) * 24 / greatest(history_hours, 1) AS baseline_daily_usd,
    toFloat64(today_usd) / greatest(toFloat64(baseline_daily_usd), 1e-12) AS ratio
FROM {{database}}.usage_hourly
WHERE hour >= {_TODAY} - toIntervalDay({{baseline_days:UInt32}})
GROUP BY tenant_id, feature, model
HAVING today_usd >= {{min_usd:Decimal(38, 12)}} AND ratio > {{factor:Float64}}
ORDER BY ratio DESC, tenant_id, feature, model
"""

#: Each tenant's calendar month (UTC) so far against its budget, and where the month is heading.
BUDGET_STATUS = """
SELECT tenant_id, sum(spent) AS spent_usd,
    if(has({budget_tenants:Array(String)}, tenant_id),
       toDecimal128({budget_usd:Array(String)}[indexOf({budget_tenants:Array(String)}, tenant_id)], 12), NULL)
       AS budget_usd,
    if(budget_usd > 0, round(100 * toFloat64(spent_usd) / toFloat64(budget_usd), 2), NULL) AS percent,
    round(spent_usd * toDecimal64(dateDiff('second', any(month_start), any(month_start) + INTERVAL 1 MONTH)
                                  / greatest(dateDiff('second', any(month_start), now('UTC')), 1), 6), 2)
        AS projected_usd
FROM (
    SELECT tenant_id, sum(cost_usd) AS spent, toDateTime(toStartOfMonth(today()), 'UTC') AS month_start
    FROM {database}.usage_daily
    WHERE day >= toStartOfMonth(today())
    GROUP BY tenant_id
    UNION ALL  -- tenants with a budget and no spend yet
    SELECT arrayJoin({budget_tenants:Array(String)}), toDecimal128(0, 12), toDateTime(toStartOfMonth(today()), 'UTC')
)
GROUP BY tenant_id
ORDER BY percent DESC NULLS LAST, spent_usd DESC, tenant_id
"""

#: (b) A tenant's month past each budget threshold; one row per threshold passed this period.
BUDGET_THRESHOLDS = f"""
SELECT tenant_id, formatDateTime(today(), '%Y-%m') AS period, threshold, percent, spent_usd, budget_usd
FROM ({BUDGET_STATUS})
ARRAY JOIN arrayMap(x -> toUInt16(x), {{thresholds:Array(String)}}) AS threshold
WHERE budget_usd > 0 AND percent >= threshold
ORDER BY tenant_id, threshold
"""

#: (c) A provider and model with unpriced calls in the last two hours and none in the trailing days.
UNPRICED_APPEARING = """
SELECT provider, request_model AS model,
    sumIf(unpriced_calls, hour >= toStartOfHour(now('UTC')) - INTERVAL 1 HOUR) AS unpriced_recent_calls
FROM {database}.usage_hourly
WHERE hour >= toStartOfHour(now('UTC')) - INTERVAL 1 HOUR - toIntervalDay({baseline_days:UInt32})
GROUP BY provider, model
HAVING unpriced_recent_calls > 0
   AND sumIf(unpriced_calls, hour < toStartOfHour(now('UTC')) - INTERVAL 1 HOUR) = 0
ORDER BY unpriced_recent_calls DESC, provider, model
"""

#: (d) Calls arrived in the trailing days, but none for `silence_minutes` (raw rows: hourly buckets cannot
#: tell 5 quiet minutes from 55).
FEED_SILENT = """
SELECT dateDiff('minute', max(ts), now64(6, 'UTC')) AS silent_minutes, max(ts) AS last_call
FROM {database}.llm_usage
WHERE ts >= now64(6, 'UTC') - toIntervalDay({baseline_days:UInt32})
HAVING count() > 0 AND silent_minutes >= {silence_minutes:UInt32}
"""

#: rule name -> (SQL, the label columns, the value column Grafana compares, a message template).
ALERTS: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "spend_anomaly": (SPEND_ANOMALIES, ("tenant_id", "feature", "model"), "ratio",
                      "{feature} ({tenant_id}, {model}) spent {today_usd} USD today, {ratio:.1f}x its "
                      "{history_days:g}-day daily average of {baseline_daily_usd} USD (the days with history, "
                      "of {baseline_days})"),
    "budget_threshold": (BUDGET_THRESHOLDS, ("tenant_id", "period", "threshold"), "percent",
                         "{tenant_id} has spent {percent:.1f}% of its {period} budget ({spent_usd} of "
                         "{budget_usd} USD), past {threshold}%"),
    "scoped_budget_threshold": (budgets.SCOPED_BUDGET_THRESHOLDS, ("tenant_id", "budget", "period", "threshold"),
                                "percent", "{tenant_id}'s {budget} budget for {period}: {percent:.1f}% spent ("
                                "{spent_usd} of {budget_usd} USD), past {threshold}%"),
    "unpriced_usage": (UNPRICED_APPEARING, ("provider", "model"), "unpriced_recent_calls",
                       "{unpriced_recent_calls} calls to {provider}/{model} in the last two hours have no price "
                       "(none in the {baseline_days} days before): add it to a price book"),
    "feed_silent": (FEED_SILENT, (), "silent_minutes",
                    "no LLM calls stored for {silent_minutes} minutes (last at {last_call})"),
}


def parameters(rules: AlertRules) -> dict[str, Any]:
    """The query parameters of the queries above, from the alert settings. Arrays are of strings (money
    exact, and every store binds them alike); the SQL converts them."""
    tenants = sorted(rules.budgets)
    return {
        "factor": rules.factor, "min_usd": str(rules.min_usd), "baseline_days": rules.baseline_days,
        "silence_minutes": rules.silence_minutes, "thresholds": [str(t) for t in rules.thresholds],
        "budget_tenants": tenants, "budget_usd": [str(rules.budgets[tenant]) for tenant in tenants],
        **budgets.parameters(rules.scoped_budgets),
    }


def bind(sql: str, database: str) -> str:
    """The query with `{database}` filled in and its {name:Type} parameters left for the store."""
    return re.sub(r"\{database\}", database, sql)


_PARAMETER = re.compile(r"(?<!\$)\{(\w+):([^{}]+?)\}")  # not ${var:format}: a Grafana variable


def inline(sql: str, database: str, params: dict[str, Any]) -> str:
    """The query with its parameters written in as typed literals: for clients that cannot send
    parameters (Grafana alert rules). Values come from AlertRules, and strings are escaped."""
    def literal(value: Any) -> str:
        if isinstance(value, list):
            return "[" + ", ".join(literal(item) for item in value) + "]"
        if isinstance(value, (Decimal, str)):
            return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
        return repr(value)

    return _PARAMETER.sub(lambda m: f"CAST({literal(params[m[1]])}, '{m[2]}')", bind(sql, database))
