"""Chargeback: spend per project and per ingest API key, and each tenant's list, effective and billed cost.

Every panel reads `pfacts`: projects_daily and projects_hourly (by tenant, project and key) for the range's whole
days and the other whole hours while the
variables it has no column for are All, raw rows for the partial hours at the range's ends, and raw rows alone
once one of those is picked: so every variable applies and every range sums exactly its calls. The billed
cost is the effective cost after each tenant's markup, in its billing currency at each day's rate, from the
chargeback terms stored by `serve` (chargeback.file), as `statement` bills (`billed_by_tenant`).
"""

from __future__ import annotations

from otel_llmcost.reports.chargeback import ANY_TENANT, MINOR_DIGITS, USD
from otel_llmcost.reports.stored_terms import CURRENT_VERSION
from otel_llmcost.store.rollups import LIST_COST
from scripts.dashboards.lines import statement_lines
from scripts.dashboards.panels import Layout, dashboard, panel, units
from scripts.dashboards.sql import (
    DAYS,
    DB,
    RANGE,
    VARIABLES,
    all_of,
    cond,
    fill,
    partial_hours,
    raw_calls,
    whole_day,
    whole_hours,
)

#: The variables of this dashboard beyond every dashboard's: (name, column, label, where their values are).
MORE = (("project", "project", "Project", "projects_daily"), ("key", "api_key_id", "API key", "projects_daily"))


def _own(prefix: str = "") -> str:
    """The conditions of this dashboard's own variables."""
    return " AND ".join(cond(prefix + column, name) for name, column, _, _ in MORE)


#: 1=1 while every variable projects_hourly has no column for is All.
_FITS = all_of(*(name for name, _, _ in VARIABLES if name != "tenant"))


def project_facts() -> str:
    """`pfacts`: (t, tenant_id, project, api_key_id, calls, unpriced_calls, list_cost_usd, cost_usd) rows of the
    range, filtered by every variable."""
    first, last = whole_hours(RANGE)
    day = "toDateTime(day, 'UTC')"
    columns = "tenant_id, project, api_key_id, calls, unpriced_calls, list_cost_usd, cost_usd"
    return (
        "pfacts AS (\n"
        f"  SELECT {day} AS t, {columns}\n"
        f"  FROM {DB}.projects_daily\n"
        f"  WHERE {whole_day(day, (first, last))} AND day >= toDate({first}, 'UTC') AND day <= toDate({last}, 'UTC')\n"
        f"  AND {cond('tenant_id', 'tenant')} AND {_own()} AND {_FITS}\n"
        "  UNION ALL\n"
        f"  SELECT hour AS t, {columns}\n"
        f"  FROM {DB}.projects_hourly\n"
        f"  WHERE hour >= {first} AND hour <= {last} AND NOT ({whole_day('toStartOfDay(hour)', (first, last))})\n"
        f"  AND {cond('tenant_id', 'tenant')} AND {_own()} AND {_FITS}\n"
        "  UNION ALL\n"
        "  SELECT toStartOfHour(u.ts) AS t, u.tenant_id, u.project, u.api_key_id, toUInt64(1),\n"
        "    toUInt64(isNull(u.cost_usd)), " + LIST_COST + ", ifNull(u.cost_usd, toDecimal128(0, 12))\n"
        f"  FROM {DB}.llm_usage AS u\n"
        f"  WHERE {raw_calls(prefix='u.')}\n"
        f"  AND {_own('u.')}\n"
        f"  AND (NOT ({_FITS}) OR {partial_hours('u.')})\n"
        ")"
    )


#: Currencies whose minor unit is not the cent, by digits (ISO 4217, reports/chargeback.py's).
_DIGITS = {digits: sorted(c for c, d in MINOR_DIGITS.items() if d == digits) for digits in set(MINOR_DIGITS.values())}
_ROUNDED = "multiIf(" + "".join(f"currency IN ({', '.join(repr(c) for c in _DIGITS[d])}), round(billed_exact, {d}), "
                                for d in sorted(_DIGITS) if d != 2) + "round(billed_exact, 2))"
_CURRENT = CURRENT_VERSION.replace("{database}", DB)


def billed_by_tenant(has: tuple[tuple[str, str], ...] = (), lacks: tuple[str, ...] = (), *raw: str) -> str:
    """Per tenant: list, effective and billed cost (after the markup, in USD exact and in its billing currency at
    each day's rate), as `statement` bills: effective x (1 + markup) x rate rounded half up to the currency's
    minor unit per day, project, feature, provider and model, then summed; so a month's figure is the
    statement's to the cent. The terms are the ones stored (reports/stored_terms.py, written by `serve` from
    chargeback.file), read when the panel runs: a change of terms needs no rebuild. Without stored terms every
    tenant is billed its effective cost in USD. The lines: lines.statement_lines (`has`, `lacks`, `raw`: this
    board's own variables). Products are Decimal256: a cost times a markup times a rate has 36 decimals."""
    return f"""
WITH
  (SELECT groupArray((tenant_id, markup, currency)) FROM {DB}.tenant_terms WHERE version = {_CURRENT}) AS terms,
  (SELECT arrayReverseSort(r -> r.2, groupArray((currency, from_day, rate))) FROM {DB}.exchange_rates
   WHERE version = {_CURRENT}) AS rates,
  {statement_lines(has, lacks, *raw)},
  billed_lines AS (
    SELECT tenant_id, list_cost, effective,
      if(has(arrayMap(t -> t.1, terms), tenant_id), arrayFirst(t -> t.1 = tenant_id, terms),
         arrayFirst(t -> t.1 = '{ANY_TENANT}', terms)) AS term,
      if(term.3 = '', '{USD}', term.3) AS currency,
      toDecimal256(effective, 12) * (1 + term.2) AS billed_usd,
      billed_usd * if(currency = '{USD}', toDecimal128(1, 12), arrayFirst(r -> r.1 = currency AND r.2 <= day, rates).3)
        AS billed_exact,
      {_ROUNDED} AS billed
    FROM lines)
SELECT tenant_id, any(currency) AS currency, sum(list_cost) AS list_cost, sum(effective) AS effective_cost,
  sum(billed_usd) AS billed_usd, sum(billed) AS billed
FROM billed_lines
GROUP BY tenant_id
ORDER BY billed_usd DESC, tenant_id
"""


def build() -> dict:
    f, usd = project_facts(), "currencyUSD"
    layout = Layout()
    layout.add(panel("timeseries", "Spend per day by project", f"WITH {f}\nSELECT * FROM (\n  SELECT {DAYS} AS time, "
                     "project, sum(cost_usd) AS cost FROM pfacts\n  GROUP BY time, project ORDER BY project, time "
                     f"{fill(days=True)})\nORDER BY time, project", "Effective cost; 0 on days without calls. "
                     "Calls without a project are the series ''.", usd), 24, 8)
    layout.add(panel("table", "Projects: list, effective and billed cost", f"WITH {f}\nSELECT tenant_id, project, "
                     "sum(list_cost_usd) AS list_cost, sum(cost_usd) AS effective_cost, sum(calls) AS calls, "
                     "sum(unpriced_calls) AS unpriced_calls\nFROM pfacts GROUP BY tenant_id, project\n"
                     "ORDER BY effective_cost DESC, calls DESC LIMIT 100", "List: at the providers' list prices; "
                     "effective: after the price book's contract multipliers (what the calls cost). The project "
                     "comes from llm.project, project.name or a dialect's project key.",
                     overrides=units(list_cost=usd, effective_cost=usd)), 12, 9)
    layout.add(panel("table", "Spend by ingest API key", f"WITH {f}\nSELECT tenant_id, api_key_id, "
                     "sum(cost_usd) AS effective_cost, sum(calls) AS calls\nFROM pfacts GROUP BY tenant_id, "
                     "api_key_id\nORDER BY effective_cost DESC, calls DESC LIMIT 100", "The id of the ingest key that "
                     "sent the calls (`otel-llmcost keys list`); '' when they came without one.",
                     overrides=units(effective_cost=usd)), 12, 9)
    layout.add(billed_panel((("project", "project"),), ("key",), _own("u.")), 24, 8)
    return dashboard("llmcost-chargeback", "LLM cost: chargeback", "Spend per project and per ingest API key; each "
                     "tenant's list, effective and billed cost.", layout, more=MORE)


def billed_panel(has: tuple[tuple[str, str], ...] = (), lacks: tuple[str, ...] = (), *raw: str) -> dict:
    """The table of each tenant's list, effective and billed cost (Chargeback and Tenants)."""
    usd = "currencyUSD"
    return panel("table", "Tenants: list, effective and billed cost", billed_by_tenant(has, lacks, *raw),
                 "List: at the providers' list prices; effective: after the price book's contract multipliers; "
                 "billed: effective after the tenant's markup (billed_usd), and in its billing currency at each "
                 "day's rate (billed), from the chargeback terms the receiver stored (chargeback.file), as "
                 "`otel-llmcost statement` bills.", overrides=units(list_cost=usd, effective_cost=usd, billed_usd=usd))
