"""Overview: how much, who, where; tokens, cache, failures and what has no price."""

from __future__ import annotations

from otel_llmcost.kinds import COST_COLUMNS
from scripts.dashboards.panels import CLICKED, ROW_TENANT, Layout, dashboard, link, panel, units
from scripts.dashboards.sql import DAYS, HOURS, MONTH, count_requests, facts, fill, request_counts, users, with_facts
from scripts.dashboards.why import why_sql

_SERIES = {"input_cost_usd": "uncached_input", "output_cost_usd": "output_without_reasoning"}
#: (cost column, series name): every part of cost_usd (kinds.py), "audio" for audio_cost_usd, "search_fees"
#: for search_fee_usd.
COST_KINDS = tuple((column, _SERIES.get(column) or (column.removesuffix("_cost_usd") if column.endswith("_cost_usd")
                                                    else column.removesuffix("_usd") + "s"))
                   for column in COST_COLUMNS)
#: What a panel with a request count says of it.
ESTIMATE = ("≈: over all tenants, or by tenant and feature, a HyperLogLog estimate (about 1.6 % off at most "
            "counts, exact for small ones); exact sets otherwise.")
UNCACHED_INPUT = ("sum(input_tokens) - sum(cache_read_tokens) - sum(cache_write_tokens) - sum(audio_input_tokens)"
                  " - sum(image_input_tokens)")
#: What the cached tokens would have cost at the model's own uncached input rate, less what they cost.
CACHE_SAVINGS = f"""
WITH {facts(by_day=True, keep=("provider", "request_model", "input_tokens", "cache_read_tokens", "cache_write_tokens",
                               "audio_input_tokens", "image_input_tokens", "input_cost_usd", "cache_read_cost_usd"))}
SELECT sum(saved) AS cache_savings FROM (
  SELECT provider, request_model, {UNCACHED_INPUT} AS uncached,
    if(uncached > 0, sum(input_cost_usd) / uncached * sum(cache_read_tokens) - sum(cache_read_cost_usd),
       toDecimal128(0, 12)) AS saved
  FROM facts GROUP BY provider, request_model)
"""


def build() -> dict:
    c = request_counts()
    layout = Layout()
    usd = "currencyUSD"
    stats = (
        ("Spend", with_facts("SELECT sum(cost_usd) AS cost FROM facts", by_day=True), usd,
         "Priced and estimated calls. Unpriced calls cost nothing here: see their share."),
        ("Calls", with_facts("SELECT sum(calls) AS calls FROM facts", by_day=True), "short",
         "LLM calls, retries included."),
        ("Requests", f"WITH {c}\nSELECT {count_requests()} AS requests", "short",
         f"Requests with a call in range. {ESTIMATE}"),
        ("Tokens", with_facts("SELECT sum(input_tokens) + sum(output_tokens) AS tokens FROM facts", by_day=True),
         "short",
         "Input (cache included) plus output (reasoning included)."),
        ("Cost per request", f"WITH {facts(by_day=True, keep=('cost_usd',))},\n{c}\nSELECT (SELECT sum(cost_usd) "
         f"FROM facts) / nullIf({count_requests()}, 0) AS cost_per_request", usd, f"Spend over requests. {ESTIMATE}"),
        ("Projected month", f"WITH {facts(MONTH, by_day=True, keep=('cost_usd',))}\nSELECT sum(cost_usd) * "
         "toDecimal64(dateDiff('second', toStartOfMonth($__toTime), toStartOfMonth($__toTime) + INTERVAL 1 MONTH) / "
         "greatest(dateDiff('second', "
         "toStartOfMonth($__toTime), $__toTime), 1), 6) AS projected_month FROM facts", usd,
         "The month of the range's end: its spend so far, extrapolated at the same pace."),
    )
    for title, sql, unit, description in stats:
        layout.add(panel("stat", title, sql, description, unit), 4, 4)
    layout.add(panel("timeseries", "Spend per day", with_facts(f"SELECT {DAYS} AS time, sum(cost_usd) AS cost "
                     f"FROM facts\nGROUP BY time ORDER BY time {fill(days=True)}", by_day=True),
                     "Every day, 0 when nothing ran.", usd), 12, 8)
    layout.add(panel("timeseries", "Spend per hour by feature", with_facts(f"SELECT * FROM (\n  SELECT {HOURS} AS "
                     f"time, feature, sum(cost_usd) AS cost FROM facts\n  GROUP BY time, feature ORDER BY feature, "
                     f"time {fill()})\nORDER BY time, feature"), "Buckets of an hour or more, 0 where empty.", usd),
               12, 8)
    tables = (
        ("Top tenants", "tenant_id, sum(cost_usd) AS cost, sum(calls) AS calls, sum(unpriced_calls) AS "
         "unpriced_calls", "tenant_id", [link("tenant_id", "Tenant ${__value.raw}", "llmcost-tenants",
                                              tenant=CLICKED)]),
        ("Top features", "tenant_id, feature, sum(cost_usd) AS cost, sum(calls) AS calls, sum(retry_calls) AS "
         "retries", "tenant_id, feature", [link("feature", "Drill into ${__value.raw}", "llmcost-drilldown",
                                                feature=CLICKED, tenant=ROW_TENANT)]),
        ("Top models", "provider, request_model AS model, sum(cost_usd) AS cost, sum(calls) AS calls, "
         "sum(unpriced_calls) AS unpriced_calls", "provider, model", []),
    )
    for title, columns, group, links in tables:
        sql = with_facts(f"SELECT {columns}\nFROM facts GROUP BY {group}\nORDER BY cost DESC, calls DESC LIMIT 20",
                         by_day=True, by_tenant="tenant_id" in group)
        layout.add(panel("table", title, sql, "By spend in range.", overrides=units(cost=usd) + links), 6, 8)
    layout.add(panel("table", "Top users", f"WITH {users()}\nSELECT tenant_id, user_id, sum(cost_usd) AS cost, "
                     "sum(calls) AS calls\nFROM users GROUP BY tenant_id, user_id\nORDER BY cost DESC, calls DESC "
                     "LIMIT 20", "By spend in range.", overrides=units(cost=usd)
                     + [link("tenant_id", "Tenant ${__value.raw}", "llmcost-tenants", tenant=CLICKED)]), 6, 8)
    layout.add(panel("timeseries", "Tokens per hour: input, cached, output", with_facts(f"SELECT {HOURS} AS time, "
                     f"{UNCACHED_INPUT} AS uncached_input, sum(cache_read_tokens) AS cache_read, "
                     "sum(cache_write_tokens) AS cache_write, sum(output_tokens) AS output\nFROM facts GROUP BY time "
                     f"ORDER BY time {fill()}"), "Input split into uncached, cache reads and cache writes."), 12, 8)
    layout.add(panel("timeseries", "Cost of failed attempts and retries", with_facts(f"SELECT {HOURS} AS time, "
                     "sumIf(cost_usd, status = 'error') AS failed_attempts_cost, sum(failed_calls) AS failed_calls, "
                     "sum(retry_calls) AS retries\nFROM facts GROUP BY time "
                     f"ORDER BY time {fill()}"), "Failed attempts rarely cost much; their retries do.",
                     overrides=units(failed_attempts_cost=usd)), 12, 8)
    kinds = ", ".join(f"sum({cost}) AS {name}" for cost, name in COST_KINDS)
    layout.add(panel("timeseries", "Cost by kind per hour", with_facts(f"SELECT {HOURS} AS time, {kinds}\nFROM facts "
                     f"GROUP BY time ORDER BY time {fill()}"), "What the money went on: uncached input, cache reads "
                     "and writes, output, reasoning, audio, image, request and search fees. A jump in cache writes "
                     "or uncached input next to flat tokens usually means the prompt cache stopped hitting.", usd,
                     options={"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                              "tooltip": {"mode": "multi", "sort": "desc"}}), 24, 8)
    ratios = (
        ("Cache hit rate", "sum(cache_read_tokens) / nullIf(sum(input_tokens), 0) AS cache_hit_rate",
         "Share of input tokens read from the prompt cache."),
        ("Unpriced share", "sum(unpriced_calls) / nullIf(sum(calls), 0) AS unpriced_share",
         "Calls without a price (no cost recorded): add their models to a price book."),
        ("Estimated share", "sum(estimated_calls) / nullIf(sum(calls), 0) AS estimated_share",
         "Calls priced with an assumption (cost_note says which)."),
        ("Cost of retries", "sum(retry_cost_usd) AS retry_cost", "Spend on attempts after the first."),
    )
    for title, expression, description in ratios:
        layout.add(panel("stat", title, with_facts(f"SELECT {expression} FROM facts", by_day=True), description,
                         usd if "cost" in expression else "percentunit"), 4, 4)
    layout.add(panel("stat", "Cache savings", CACHE_SAVINGS, "What the cached input would have cost uncached, "
                     "less what it cost (at each model's own uncached input rate).", usd), 4, 4)
    layout.add(panel("table", "Why the cost changed (against the period before)", why_sql(),
                     "The change of spend from the period of the same length just before the range, split into "
                     "causes that add up to it exactly: volume (requests, calls per request), feature and model "
                     "mix, retries, prompt and completion length, cache hit rate, prices, new and vanished "
                     "features/models. The same as `otel-llmcost why`; `otel-llmcost request ID` shows a request.",
                     overrides=units(change_usd=usd)), 24, 10)
    return dashboard("llmcost-overview", "LLM cost: overview", "How much, who and where: spend, tokens, cache, "
                     "failures and unpriced usage. Reads the hourly rollup (raw rows once users are picked).",
                     layout)
