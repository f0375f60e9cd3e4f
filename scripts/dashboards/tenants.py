"""Tenants: month to date against the budgets of alerts.yaml, list, effective and billed cost, the trend, and what
each tenant spends on."""

from __future__ import annotations

from otel_llmcost.alerts import queries
from otel_llmcost.alerts.rules import AlertRules
from otel_llmcost.store.rollups import PEAKS
from scripts.dashboards.chargeback import billed_panel
from scripts.dashboards.panels import CLICKED, ROW_TENANT, Layout, dashboard, link, panel, units
from scripts.dashboards.sql import (
    DAYS,
    DB,
    EVERY_TENANT,
    MONTH,
    SKETCH_COUNT,
    all_of,
    cond,
    facts,
    fill,
    filters,
    raw_calls,
    users,
)

_MONTH_SECONDS = "dateDiff('second', toStartOfMonth($__toTime), toStartOfMonth($__toTime) + INTERVAL 1 MONTH)"
_ELAPSED_SECONDS = "greatest(dateDiff('second', toStartOfMonth($__toTime), $__toTime), 1)"


def month_vs_budget(rules: AlertRules) -> str:
    """Per tenant: the month of the range's end so far, its budget (from the alert settings, written in),
    the share spent and the month projected at the same pace."""
    sql = f"""
WITH {facts(MONTH, by_day=True, by_tenant=True, keep=("tenant_id", "cost_usd"))}
SELECT tenant_id, sum(cost_usd) AS month_to_date,
  if(has({{budget_tenants:Array(String)}}, tenant_id),
     toDecimal128({{budget_usd:Array(String)}}[indexOf({{budget_tenants:Array(String)}}, tenant_id)], 12), NULL)
     AS budget,
  round(toFloat64(month_to_date) / toFloat64(budget), 4) AS budget_used,
  sum(cost_usd) * toDecimal64({_MONTH_SECONDS} / {_ELAPSED_SECONDS}, 6) AS projected_month
FROM facts
GROUP BY tenant_id
ORDER BY month_to_date DESC
"""
    return queries.inline(sql, DB, queries.parameters(rules))  # the budgets written in, as for the alert rules


#: The provider's bill minus our figures per day and provider, from the latest `otel-llmcost reconcile` run
#: of each day (FINAL: a later run's rows replace an earlier one's). 0 on days no run covered. Bills know no
#: environment, service, feature, model as asked, or user: picking one of those empties the panel.
RECONCILIATION_GAP = f"""
SELECT * FROM (
  SELECT toDateTime(day, 'UTC') AS time, provider, sum(gap_usd) AS gap_usd
  FROM {DB}.reconciliations FINAL
  WHERE day >= toDate($__fromTime) AND day <= toDate($__toTime)
    AND {cond("tenant_id", "tenant")} AND {cond("provider", "provider")}
    AND {all_of("environment", "service", "feature", "model", "user")}
  GROUP BY time, provider ORDER BY provider, time {fill(days=True)})
ORDER BY time, provider
"""


#: The days of the range (sessions_daily's grain; the other branches read the same days).
_SESSION_DAYS = "day >= toDate($__fromTime) AND day <= toDate($__toTime)"
_DAYS_FROM, _DAYS_TO = "toStartOfDay($__fromTime)", "toStartOfDay($__toTime) + INTERVAL 1 DAY"
#: 1=1 while every variable sessions_daily has no column for is All.
_SESSION_FITS = all_of("environment", "service", "feature", "provider", "model", "user")
#: What each conversation cost on the range's days (UTC), from sessions_daily while only a tenant is picked: the
#: candidates are the sessions with a day row at or above a floor (a few granules by its cost index), the 100th
#: costliest session-day row of the range (session_peaks_all_daily over all tenants, else session_peaks_daily),
#: which at least the sessions owning the 100 costliest rows reach; each candidate's sums are then its own rows
#: of the range, exact. A session whose rows are each below the floor is not listed, however many: one spread
#: thinner than the range's 100 costliest session-days (or whose day is in rows not merged yet). Once something
#: else is picked, from the requests table (a row per request and hour, with its session), or from the raw calls
#: once a provider or model is (requests keeps neither).
TOP_SESSIONS = f"""
WITH
  (SELECT -arrayElement(groupArraySortedMerge({PEAKS})(peak_costs), {PEAKS}) FROM (
     SELECT peak_costs FROM {DB}.session_peaks_all_daily WHERE {_SESSION_DAYS} AND {EVERY_TENANT}
     UNION ALL
     SELECT peak_costs FROM {DB}.session_peaks_daily
     WHERE {_SESSION_DAYS} AND {cond("tenant_id", "tenant")} AND NOT ({EVERY_TENANT}))
   WHERE {_SESSION_FITS}) AS cost_floor,
  candidates AS (
    SELECT tenant_id, session_id FROM {DB}.sessions_daily
    WHERE {_SESSION_DAYS} AND cost_usd >= cost_floor AND {cond("tenant_id", "tenant")} AND {_SESSION_FITS})
SELECT * FROM (
SELECT tenant_id, session_id, sum(cost_usd) AS cost, sum(calls) AS calls, {SKETCH_COUNT} AS requests,
  min(first_ts) AS started, max(last_ts) AS last_call
FROM {DB}.sessions_daily
WHERE (tenant_id, session_id) IN candidates AND {_SESSION_DAYS} AND {cond("tenant_id", "tenant")} AND {_SESSION_FITS}
GROUP BY tenant_id, session_id
UNION ALL
SELECT tenant_id, session_id, sum(cost) AS cost, sum(calls) AS calls, uniqExact(request_id) AS requests,
  min(started) AS started, max(last_call) AS last_call
FROM (
  SELECT tenant_id, session_id, toDecimal128(cost_usd, 12) AS cost, toUInt64(calls) AS calls, request_id,
    toDateTime64(first_ts, 6, 'UTC') AS started, toDateTime64(last_ts, 6, 'UTC') AS last_call
  FROM {DB}.requests
  WHERE hour >= {_DAYS_FROM} AND hour < {_DAYS_TO} AND session_id != ''
    AND {filters("tenant", "environment", "service", "feature", "user")}
    AND {all_of("provider", "model")} AND NOT ({_SESSION_FITS})
  UNION ALL
  SELECT tenant_id, session_id, toDecimal128(ifNull(cost_usd, 0), 12), toUInt64(1), request_id, ts, ts
  FROM {DB}.llm_usage
  WHERE {raw_calls("session_id != ''", window=(_DAYS_FROM, _DAYS_TO))} AND ts < {_DAYS_TO}
    AND NOT ({all_of("provider", "model")})
)
GROUP BY tenant_id, session_id)
ORDER BY cost DESC, calls DESC LIMIT 50
"""


def build(rules: AlertRules) -> dict:
    f, usd = facts(by_day=True, by_tenant=True, keep=("tenant_id", "feature", "cost_usd", "calls")), "currencyUSD"
    layout = Layout()
    layout.add(panel("table", "Month to date against budget", month_vs_budget(rules), "The month of the range's "
                     "end. Budgets come from alerts.yaml (regenerate the dashboards after changing it).",
                     overrides=units(month_to_date=usd, budget=usd, projected_month=usd, budget_used="percentunit")
                     + [link("tenant_id", "Tenant ${__value.raw}", "llmcost-tenants", tenant=CLICKED)]), 24, 7)
    layout.add(panel("timeseries", "Spend per day by tenant", f"WITH {f}\nSELECT * FROM (\n  SELECT {DAYS} AS time, "
                     "tenant_id, sum(cost_usd) AS cost FROM facts\n  GROUP BY time, tenant_id ORDER BY tenant_id, time "
                     f"{fill(days=True)})\nORDER BY time, tenant_id", "0 on days without calls.", usd), 24, 8)
    layout.add(billed_panel(), 24, 7)
    layout.add(panel("table", "Top features of the tenant", f"WITH {f}\nSELECT tenant_id, feature, sum(cost_usd) AS "
                     "cost, sum(calls) AS calls\nFROM facts GROUP BY tenant_id, feature\nORDER BY cost DESC LIMIT 50",
                     "Pick a tenant above to narrow.", overrides=units(cost=usd) + [
                         link("feature", "Drill into ${__value.raw}", "llmcost-drilldown", feature=CLICKED,
                              tenant=ROW_TENANT)]), 12, 9)
    layout.add(panel("table", "Top users of the tenant", f"WITH {users()}\nSELECT tenant_id, user_id, "
                     "sum(cost_usd) AS cost, sum(calls) AS calls\nFROM users GROUP BY tenant_id, user_id\n"
                     "ORDER BY cost DESC, calls DESC LIMIT 50", "By spend in range.", overrides=units(cost=usd)),
               12, 9)
    layout.add(panel("table", "Most expensive sessions", TOP_SESSIONS, "Each conversation's cost (the session id "
                     "the app sets), from its calls on the range's days (UTC); requests ≈ while only a tenant is "
                     "picked (a sketch, exact for small sets). Sessions are found by their costliest days: one whose "
                     "every day is below the range's 100 costliest session-days is not listed.",
                     overrides=units(cost=usd)), 24, 8)
    layout.add(panel("timeseries", "Provider bill minus ours per day", RECONCILIATION_GAP, "From `otel-llmcost "
                     "reconcile` runs over the providers' exports: above 0, the bill is higher than the stored calls "
                     "(ours under); below 0, ours over. The reasons are in llmcost.reconciliations.", usd), 24, 8)
    return dashboard("llmcost-tenants", "LLM cost: tenants", "Each tenant's month against its budget, its list, "
                     "effective and billed cost, trend, features and users; the provider's bill against ours.", layout)
