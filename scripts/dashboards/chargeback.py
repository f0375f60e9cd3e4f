"""Chargeback: spend per project and per ingest API key, and each tenant's list, effective and billed cost.

Every panel reads `pfacts`: projects_hourly (by tenant, project and key) for the range's whole hours while the
variables it has no column for are All, raw rows for the partial hours at the range's ends, and raw rows alone
once one of those is picked: so every variable applies and every range sums exactly its calls. The billed
cost is the effective cost after each tenant's markup, in its billing currency at each day's rate, from the
chargeback terms written in when the dashboards are built (`scripts/build_dashboards.py --chargeback FILE`;
without them every tenant is billed its effective cost in USD), as `stats --chargeback` and `statement` bill.
"""

from __future__ import annotations

from otel_llmcost.reports.chargeback import ANY_TENANT, USD, Chargeback, minor_unit
from otel_llmcost.store.rollups import LIST_COST
from scripts.dashboards.panels import Layout, dashboard, panel, units
from scripts.dashboards.sql import DAYS, DB, RANGE, VARIABLES, all_of, cond, fill, partial_hours, raw_calls, whole_hours

#: The variables of this dashboard beyond every dashboard's: (name, column, label, where their values are).
MORE = (("project", "project", "Project", "projects_hourly"), ("key", "api_key_id", "API key", "projects_hourly"))


def _own(prefix: str = "") -> str:
    """The conditions of this dashboard's own variables."""
    return " AND ".join(cond(prefix + column, name) for name, column, _, _ in MORE)


#: 1=1 while every variable projects_hourly has no column for is All.
_FITS = all_of(*(name for name, _, _ in VARIABLES if name != "tenant"))


def project_facts() -> str:
    """`pfacts`: (t, tenant_id, project, api_key_id, calls, unpriced_calls, list_cost_usd, cost_usd) rows of the
    range, filtered by every variable."""
    first, last = whole_hours(RANGE)
    return (
        "pfacts AS (\n"
        "  SELECT hour AS t, tenant_id, project, api_key_id, calls, unpriced_calls, list_cost_usd, cost_usd\n"
        f"  FROM {DB}.projects_hourly\n"
        f"  WHERE hour >= {first} AND hour <= {last}\n"
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


def billed_by_tenant(chargeback: Chargeback) -> str:
    """Per tenant: list, effective and billed (after the markup, USD) cost, and billed in its currency at each
    day's rate, rounded half up to the currency's minor unit (as `stats --chargeback`); the terms written in as
    literals. Products are Decimal256: a cost times a markup times a rate has 36 decimals."""
    tenants = sorted(name for name in chargeback.tenants if name != ANY_TENANT)
    default = chargeback.terms(ANY_TENANT)
    named = _array([f"'{t}'" for t in tenants], "String")
    markups = _array([f"'{chargeback.terms(t).markup}'" for t in tenants], "Decimal(38, 12)")
    currencies = _array([f"'{chargeback.terms(t).currency}'" for t in tenants], "String")
    rates = _array([f"('{currency}', '{day}', '{rate}')" for currency, (days, values)
                    in sorted(chargeback.rates.items()) for day, rate in sorted(zip(days, values, strict=True),
                                                                                 reverse=True)],
                   "Tuple(String, Date, Decimal(38, 12))")
    used = sorted({USD, default.currency, *(chargeback.terms(t).currency for t in tenants)})
    digits = {currency: -minor_unit(currency).as_tuple().exponent for currency in used}
    other = "".join(f"currency = '{c}', round(billed_exact, {places}), " for c, places in digits.items() if places != 2)
    rounded = f"multiIf({other}round(billed_exact, 2))" if other else "round(billed_exact, 2)"
    return f"""
WITH {project_facts()},
  days AS (
    SELECT tenant_id, toDate(t) AS day, sum(list_cost_usd) AS day_list, sum(cost_usd) AS day_effective,
      if(has({named}, tenant_id), {markups}[indexOf({named}, tenant_id)], toDecimal128('{default.markup}', 12))
        AS markup,
      if(has({named}, tenant_id), {currencies}[indexOf({named}, tenant_id)], '{default.currency}') AS currency,
      if(currency = '{USD}', toDecimal128(1, 12), arrayFirst(r -> r.1 = currency AND r.2 <= day, {rates}).3) AS rate
    FROM pfacts GROUP BY tenant_id, day)
SELECT tenant_id, any(currency) AS currency, sum(day_list) AS list_cost, sum(day_effective) AS effective_cost,
  sum(toDecimal256(day_effective, 12) * (1 + markup)) AS billed_usd,
  sum(toDecimal256(day_effective, 12) * (1 + markup) * rate) AS billed_exact,
  {rounded} AS billed
FROM days
GROUP BY tenant_id
ORDER BY billed_usd DESC, tenant_id
"""


def _array(items: list[str], of: str) -> str:
    return f"CAST([{', '.join(items)}], 'Array({of})')"


def build(chargeback: Chargeback) -> dict:
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
    layout.add(panel("table", "Tenants: list, effective and billed cost", billed_by_tenant(chargeback),
                     "Billed: effective after the tenant's markup (billed_usd), and in its billing currency at each "
                     "day's rate (billed), from the chargeback terms the dashboards were built with.",
                     overrides=units(list_cost=usd, effective_cost=usd, billed_usd=usd)), 24, 8)
    return dashboard("llmcost-chargeback", "LLM cost: chargeback", "Spend per project and per ingest API key; each "
                     "tenant's list, effective and billed cost.", layout, more=MORE)
