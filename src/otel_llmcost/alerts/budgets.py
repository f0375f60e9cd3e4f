"""Budgets below the tenant: per feature, user, project or ingest API key of a tenant, or a tenant's day, monthly
or daily (UTC).

alerts.yaml's `budgets` is either the tenants' monthly budgets (`acme: "60"`) or a list of budgets:

    budgets:
      - {tenant: acme, usd: "60"}                                  # the tenant's month (the mapping's form)
      - {tenant: acme, period: daily, usd: "5"}                    # the tenant's day
      - {tenant: acme, feature: chat, usd: "20"}                   # a feature's month
      - {tenant: acme, user: acme-user-01, period: daily, usd: "0.50"}
      - {tenant: acme, project: atlas, usd: "40"}                  # a project's month
      - {tenant: acme, key: 3f9a1c0b2d4e, period: daily, usd: "8"} # what one ingest key (its id) sent today

Spend comes from the rollups: usage_daily for tenants and features, users_daily for users, projects_hourly for
projects and keys (the status endpoint: from alerts/ledger.py, seeded from the same rollups). Each threshold of
each budget is notified once per period (the period label is the month, or the day of a daily budget). The
SQL here serves both `otel-llmcost anomalies` (parameters) and Grafana's rule (inlined), and the budget
status endpoint a gateway asks before a call (`GET /api/v1/budgets/status`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

PERIODS = ("monthly", "daily")
LEVELS = ("tenant", "feature", "user", "project", "key")
_SCOPES = LEVELS[1:]


@dataclass(frozen=True)
class Budget:
    tenant: str
    level: str  # one of LEVELS
    scope: str  # the feature, user, project or key id ("" for the tenant)
    period: str  # "monthly" or "daily"
    usd: Decimal

    def label(self) -> str:
        return self.level if self.level == "tenant" else f"{self.level}={self.scope}"


def parse_budget(entry: Any, where: str, errors: list[str], usd) -> Budget | None:
    """One list entry of `budgets`; `usd` reads an amount (alerts/rules.py's)."""
    if not isinstance(entry, dict):
        errors.append(f"{where} must be a mapping like {{tenant: acme, usd: \"60\"}}")
        return None
    unknown = set(entry) - {"tenant", *_SCOPES, "period", "usd"}
    if unknown:
        errors.append(f"{where}: unknown keys {sorted(unknown)} (budgets are per tenant, {', '.join(_SCOPES)})")
    tenant, period = str(entry.get("tenant") or ""), entry.get("period", "monthly")
    scopes = [level for level in _SCOPES if entry.get(level)]
    if not tenant:
        errors.append(f"{where} needs a tenant")
    if len(scopes) > 1:
        errors.append(f"{where}: a budget is per one of {', '.join(_SCOPES)}, not {' and '.join(scopes)}")
    if period not in PERIODS:
        errors.append(f"{where}: period must be monthly or daily, got {period!r}")
    level = scopes[0] if scopes else "tenant"
    amount = usd(entry.get("usd"), f"{where}.usd", errors)
    return Budget(tenant, level, str(entry.get(level) or "") if scopes else "", period, amount)


def period_of(budget_period: str, now: datetime) -> tuple[str, datetime, datetime]:
    """The period's label ("2026-11" or "2026-11-03"), start and reset (its exclusive end), UTC."""
    day = now.astimezone(timezone.utc).date()
    if budget_period == "daily":
        start = datetime.combine(day, time(), timezone.utc)
        return day.isoformat(), start, start + timedelta(days=1)
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first.strftime("%Y-%m"), datetime.combine(first, time(), timezone.utc), datetime.combine(
        following, time(), timezone.utc)


#: (level, rollup, its column naming the scope, its day): where each level's spend is kept.
_SOURCES = (("tenant", "usage_daily", "''", "day"), ("feature", "usage_daily", "feature", "day"),
            ("user", "users_daily", "user_id", "day"), ("project", "projects_hourly", "project", "toDate(hour)"),
            ("key", "projects_hourly", "api_key_id", "toDate(hour)"))


def _since(day: str) -> str:
    return "day >= {month_start:Date}" if day == "day" else "hour >= toDateTime({month_start:Date}, 'UTC')"


def _spend() -> str:
    """Spend since {month_start} per (level, tenant, scope, day) from the rollups, for every budget level."""
    return "\n" + "\nUNION ALL\n".join(
        f"SELECT '{level}' AS level, tenant_id, {column} AS scope, {day} AS day, cost_usd\n"
        f"FROM {{database}}.{table} WHERE {_since(day)}" for level, table, column, day in _SOURCES)


_SPEND = _spend()

#: Spend per (level, tenant, scope, day) since {month_start}: what the budget status ledger starts from
#: (alerts/ledger.py). Amounts as text: exact.
SPEND_SINCE = ("SELECT level, tenant_id, scope, toString(day) AS day, toString(sum(cost_usd)) AS cost_usd\nFROM ("
               + _SPEND + ")\nGROUP BY level, tenant_id, scope, day\n")

#: Every configured budget below the tenant's month with what it has spent in its period (now: a Grafana rule
#: runs it too, with the budgets written in).
_MONTH_START = "toStartOfMonth(toDate(now('UTC')))"
SCOPED_BUDGET_STATUS = """
SELECT b.1 AS level, b.2 AS tenant_id, b.3 AS scope, b.4 AS period_kind, toDecimal128(b.5, 12) AS budget_usd,
    if(period_kind = 'daily', toString(toDate(now('UTC'))),
       formatDateTime(toStartOfMonth(toDate(now('UTC'))), '%Y-%m')) AS period,
    if(period_kind = 'daily', ifNull(s.today_usd, toDecimal128(0, 12)), ifNull(s.month_usd, toDecimal128(0, 12)))
        AS spent_usd,
    if(budget_usd > 0, round(100 * toFloat64(spent_usd) / toFloat64(budget_usd), 2), NULL) AS percent
FROM (SELECT arrayJoin(arrayZip({budget_levels:Array(String)}, {budget_scope_tenants:Array(String)},
                                {budget_scopes:Array(String)}, {budget_periods:Array(String)},
                                {budget_amounts:Array(String)})) AS b) AS budgets
LEFT JOIN (
    SELECT level, tenant_id, scope, sum(cost_usd) AS month_usd,
        sumIf(cost_usd, day = toDate(now('UTC'))) AS today_usd
    FROM (""" + _SPEND.replace("{month_start:Date}", _MONTH_START) + """)
    GROUP BY level, tenant_id, scope
) AS s ON s.level = budgets.b.1 AND s.tenant_id = budgets.b.2 AND s.scope = budgets.b.3
"""

#: A budget below the tenant's month past each threshold; one row per threshold passed this period.
SCOPED_BUDGET_THRESHOLDS = f"""
SELECT tenant_id, if(level = 'tenant', 'tenant', concat(level, '=', scope)) AS budget, period, threshold, percent,
    spent_usd, budget_usd
FROM ({SCOPED_BUDGET_STATUS})
ARRAY JOIN arrayMap(x -> toUInt16(x), {{thresholds:Array(String)}}) AS threshold
WHERE budget_usd > 0 AND percent >= threshold
ORDER BY tenant_id, budget, threshold
"""


def parameters(budgets: tuple[Budget, ...]) -> dict[str, Any]:
    """The query parameters of the SQL above (arrays of strings: money stays exact)."""
    return {"budget_levels": [b.level for b in budgets], "budget_scope_tenants": [b.tenant for b in budgets],
            "budget_scopes": [b.scope for b in budgets], "budget_periods": [b.period for b in budgets],
            "budget_amounts": [str(b.usd) for b in budgets]}


def status(budgets: list[Budget], spend: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """Each budget that applies, with spent, remaining, allowed and the period's reset (the endpoint's rows).
    `spend`: SpendLedger.spent's answer."""
    rows = []
    for budget in budgets:
        prefix = "" if budget.level == "tenant" else f"{budget.level}_"
        spent = Decimal(spend[f"{prefix}{'today' if budget.period == 'daily' else 'month'}_usd"] or 0)
        label, _, reset = period_of(budget.period, now)
        remaining = budget.usd - spent
        rows.append({"budget": budget.label(), "period": budget.period, "period_label": label,
                     "budget_usd": _text(budget.usd), "spent_usd": _text(spent),
                     "remaining_usd": _text(max(remaining, Decimal(0))), "allowed": remaining > 0,
                     "resets_at": reset.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return rows


def applying(budgets: Iterable[Budget], tenant: str, scopes: dict[str, str]) -> list[Budget]:
    """The budgets a call of this tenant and these scopes (level -> feature, user, project, key) counts against."""
    return [b for b in budgets if b.tenant == tenant and (b.level == "tenant" or b.scope == scopes.get(b.level))]


def _text(amount: Decimal) -> str:
    return format(amount, "f")

