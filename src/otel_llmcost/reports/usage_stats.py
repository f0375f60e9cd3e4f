"""`otel-llmcost stats`: totals per group, read from the rollups and exact for any time range.

Whole hours come from usage_hourly (calls, tokens, costs, latency) and request_counts_hourly (sets of
requests); only the partial hours at the range's two ends come from llm_usage, shaped like rollup rows by
the views' own SELECT (store/rollups.py). So `--since 24h` is as exact as a range on the hour, and reads ~2
hours of raw rows. A request is counted once per group it has a call in.

The rollups keep no user or session (one per row would defeat them). With the user or session filter or
grouping (a session's cost: what one conversation cost), the totals
read llm_usage for the whole range, and the request counts read the requests table for whole hours, or
llm_usage for the whole range when model or provider are asked too (`requests` keeps neither per call).
Projects and API keys have their own rollup (projects_hourly, by tenant, project and key): asked with nothing
but tenant and time, they read it like the others; asked with another dimension, llm_usage for the range.

Three costs per group: `list_cost_usd` (the providers' list prices), `cost_usd` (the effective cost, after the
price book's contract multipliers: what the calls cost) and `billed_usd` (effective after each tenant's markup
in chargeback.yaml, reports/chargeback.py; the effective cost without terms); with terms, `billed` in the
group's billing currency at each day's rate (None when the group's tenants bill in different currencies).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from otel_llmcost.reports.chargeback import Chargeback, minor_unit
from otel_llmcost.store import sql_time
from otel_llmcost.store.rollups import PROJECTS_HOURLY, REQUEST_COUNTS_HOURLY, REQUESTS, USAGE_HOURLY, Rollup

#: --by -> the group expression over rollup-shaped rows `r` (model is the requested model: the rollups' key)
GROUPS: dict[str | None, str] = {
    None: "'all'", "tenant": "r.tenant_id", "feature": "r.feature", "model": "r.request_model",
    "provider": "r.provider", "environment": "r.environment", "service": "r.service_name", "user": "r.user_id",
    "session": "r.session_id", "project": "r.project", "key": "r.api_key_id",
    "day": "toString(toDate(r.hour))", "hour": "toString(r.hour)",
}
#: filter flag -> column
FILTERS = {
    "tenant": "tenant_id", "feature": "feature", "model": "request_model", "provider": "provider",
    "environment": "environment", "service": "service_name", "user": "user_id", "session": "session_id",
    "project": "project", "key": "api_key_id",
}
TIME_GROUPS = ("day", "hour")
_BY_PROJECT = {"project", "key"}  # projects_hourly's own keys
_IN_PROJECTS = _BY_PROJECT | {"tenant", *TIME_GROUPS, None}
_NEEDS_USER = {"user", "session"}  # no rollup keeps them
_NOT_IN_REQUESTS = {"model", "provider"}
_WHOLE = "hour >= {whole_since:DateTime('UTC')} AND hour < {whole_until:DateTime('UTC')}"
# The partial hours before and after the whole ones: two branches of plain ranges (an OR of the two would
# keep the sort key's hour from pruning granules)
_EDGES = ("u.ts >= {since:DateTime64(6, 'UTC')} AND u.ts < {whole_since:DateTime('UTC')}",
          "u.ts >= {whole_until:DateTime('UTC')} AND u.ts < {until:DateTime64(6, 'UTC')}")
_TOKENS_SHOWN = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
# keys added to the rollups' SELECT (their types are not used): a user and a session (a conversation), a
# project and an API key
_BY_USER = (("user_id", "", "u.user_id"), ("session_id", "", "u.session_id"), ("project", "", "u.project"),
            ("api_key_id", "", "u.api_key_id"))
_TOTALS = tuple(m for m in PROJECTS_HOURLY.measures if m[0] != "requests")
_REQUEST_SETS = tuple(m for m in PROJECTS_HOURLY.measures if m[0] == "requests")
# request_counts_hourly's keys (in its column order, as the UNION ALL beside it needs) and a user, from the
# requests table (rows per request and hour), which keeps no provider or model
_IN_REQUESTS = {name for name, _, _ in REQUESTS.keys + REQUESTS.measures}
_BY_USER_KEYS = [name for name, _, _ in REQUEST_COUNTS_HOURLY.keys + _BY_USER]
_REQUESTS_BY_USER = f"""
SELECT {", ".join(name if name in _IN_REQUESTS else f"'' AS {name}" for name in _BY_USER_KEYS)},
    uniqExactState(toString(tenant_id), request_id) AS requests
FROM {{database}}.requests WHERE {{whole}}
GROUP BY {", ".join(name for name in _BY_USER_KEYS if name in _IN_REQUESTS)}"""


@dataclass(frozen=True)
class StatsQuery:
    by: str | None
    filters: dict[str, str]  # flag -> value, given ones only

    def _where(self) -> str:
        return " AND ".join(f"r.{FILTERS[name]} = {{filter_{name}:String}}" for name in sorted(self.filters)) or "1"

    def _raw(self, names: set[str]) -> bool:
        return self.by in names or bool(names & self.filters.keys())

    def _projects(self) -> bool:
        """Asked by project or key, and by nothing projects_hourly does not keep: read it."""
        return self._raw(_BY_PROJECT) and self.by in _IN_PROJECTS and self.filters.keys() <= _IN_PROJECTS

    def _all_raw(self) -> bool:
        return self._raw(_NEEDS_USER) or (self._raw(_BY_PROJECT) and not self._projects())

    def _totals_source(self, database: str) -> str:
        if self._all_raw():
            return raw_source(database, dataclasses.replace(USAGE_HOURLY, keys=USAGE_HOURLY.keys + _BY_USER))
        if self._projects():
            return rollup_source(database, dataclasses.replace(PROJECTS_HOURLY, measures=_TOTALS))
        return rollup_source(database, USAGE_HOURLY)

    def totals_sql(self, database: str) -> str:
        tokens = ",\n    ".join(f"sum(r.{kind}) AS {kind}" for kind in _TOKENS_SHOWN)
        source = self._totals_source(database)
        return f"""
SELECT {GROUPS[self.by]} AS group,
    sum(r.calls) AS calls,
    sum(r.failed_calls) AS failures,
    {tokens},
    sum(r.calls) = sum(r.unpriced_calls) + sum(r.invalid_usage_calls) AS none_priced,
    if(none_priced, NULL, sum(r.list_cost_usd)) AS list_cost_usd,
    if(none_priced, NULL, sum(r.cost_usd)) AS cost_usd,
    sum(r.unpriced_calls) AS unpriced_calls,
    round(sum(r.latency_ms_sum) / sum(r.calls), 3) AS avg_latency_ms
FROM ({source}) AS r
WHERE {self._where()}
GROUP BY group
"""

    def billing_sql(self, database: str) -> str:
        """The effective cost per group, tenant and UTC day: what markups and the day's rates apply to."""
        return f"""
SELECT {GROUPS[self.by]} AS group, r.tenant_id AS tenant, toString(toDate(r.hour)) AS day, sum(r.cost_usd) AS cost_usd
FROM ({self._totals_source(database)}) AS r
WHERE {self._where()}
GROUP BY group, tenant, day
"""

    def requests_sql(self, database: str) -> str:
        if self._all_raw() and self._raw(_BY_PROJECT):  # the requests table keeps no project or key
            source = raw_source(database, dataclasses.replace(REQUEST_COUNTS_HOURLY,
                                                              keys=REQUEST_COUNTS_HOURLY.keys + _BY_USER))
        elif self._all_raw():
            shaped = dataclasses.replace(REQUEST_COUNTS_HOURLY, keys=REQUEST_COUNTS_HOURLY.keys + _BY_USER)
            source = rollup_source(database, shaped, _REQUESTS_BY_USER.format(database=database, whole=_WHOLE))
        elif self._projects():
            source = rollup_source(database, dataclasses.replace(PROJECTS_HOURLY, measures=_REQUEST_SETS))
        else:
            source = rollup_source(database, REQUEST_COUNTS_HOURLY)
        return f"""
SELECT {GROUPS[self.by]} AS group, uniqExactMerge(r.requests) AS requests
FROM ({source}) AS r
WHERE {self._where()}
GROUP BY group
"""

    def totals_params(self, since: datetime, until: datetime) -> dict[str, str]:
        return self._params(since, until, self._all_raw())

    def requests_params(self, since: datetime, until: datetime) -> dict[str, str]:
        return self._params(since, until, self._all_raw() and self._raw(_NOT_IN_REQUESTS | _BY_PROJECT))

    def _params(self, since: datetime, until: datetime, all_raw: bool) -> dict[str, str]:
        return range_params(since, until, all_raw) | {f"filter_{name}": value for name, value in self.filters.items()}


def rollup_source(database: str, rollup: Rollup, whole: str | None = None) -> str:
    """Rows shaped like `rollup`'s over [since, until): its own rows for the whole hours [whole_since,
    whole_until), the view's SELECT over llm_usage for the partial hours at the two ends (range_params).
    `whole`: another SELECT of the whole hours, in the rollup's column order (default: the rollup table's
    columns that `rollup` names: a rollup narrowed to some measures reads, and computes, only those)."""
    whole = whole or f"SELECT {rollup.names()} FROM {database}.{rollup.table} WHERE {_WHOLE}"
    return "\nUNION ALL\n".join([whole] + [rollup.select(f"{database}.llm_usage", edge) for edge in _EDGES])


def raw_source(database: str, rollup: Rollup) -> str:
    """Rows shaped like `rollup`'s from llm_usage alone, over [since, until) when range_params was all_raw."""
    return "\nUNION ALL\n".join(rollup.select(f"{database}.llm_usage", edge) for edge in _EDGES)


def range_params(since: datetime, until: datetime, all_raw: bool = False) -> dict[str, str]:
    """The parameters of rollup_source: whole hours [whole_since, whole_until) from the rollup; all raw
    (whole_since = whole_until = until) when the range holds no whole hour, or `all_raw`."""
    whole_since = since.replace(minute=0, second=0, microsecond=0)
    whole_since += timedelta(hours=1) if whole_since < since else timedelta(0)
    whole_until = until.replace(minute=0, second=0, microsecond=0)
    if whole_since >= whole_until or all_raw:
        whole_since = whole_until = until
    return {"since": sql_time(since), "until": sql_time(until),
            "whole_since": whole_since.strftime("%Y-%m-%d %H:%M:%S"),
            "whole_until": whole_until.strftime("%Y-%m-%d %H:%M:%S")}


def stats_rows(store, query: StatsQuery, since: datetime, until: datetime,
               chargeback: Chargeback | None = None) -> list[dict]:
    """One row per group, most expensive first (in time order by day or hour): requests, calls, failures,
    tokens, list, effective and billed cost, latency. Billed is the effective cost without `chargeback`."""
    requests_params, totals_params = query.requests_params(since, until), query.totals_params(since, until)
    requests = {row["group"]: row["requests"]
                for row in store.query(query.requests_sql(store.database), requests_params)}
    billed = _billed(store.query(query.billing_sql(store.database), totals_params), chargeback) if chargeback else {}
    rows = []
    for row in store.query(query.totals_sql(store.database), totals_params):
        figures = {k: v for k, v in row.items() if k not in ("group", "none_priced")}
        group_billed = billed.get(row["group"], {})
        figures["billed_usd"] = group_billed.get("billed_usd", row["cost_usd"])
        if chargeback:
            figures |= {"billed": group_billed.get("billed"), "billed_currency": group_billed.get("currency")}
        rows.append({"group": row["group"], "requests": requests.get(row["group"], 0), **figures})
    if query.by in TIME_GROUPS:
        rows.sort(key=lambda row: row["group"])
    else:
        rows.sort(key=lambda row: (-_usd(row["cost_usd"]), -row["calls"], row["group"]))
    return rows


def compare(current: list[dict], previous: list[dict], shift: timedelta | None = None) -> list[dict]:
    """Each group's figures beside the previous period's, with the cost change; largest change first. With
    `shift` (the groups are days or hours), a previous group is the time `shift` earlier than the current
    one it stands beside, and the rows are in time order."""
    before = {_shifted(row["group"], shift) if shift else row["group"]: row for row in previous}
    groups = [row["group"] for row in current] + [g for g in before if g not in {r["group"] for r in current}]
    now = {row["group"]: row for row in current}
    rows = []
    for group in groups:
        this, last = now.get(group, {}), before.get(group, {})
        cost, last_cost = _usd(this.get("cost_usd")), _usd(last.get("cost_usd"))
        rows.append({
            "group": group,
            "cost_usd": format(cost, "f"), "previous_cost_usd": format(last_cost, "f"),
            "change_usd": format(cost - last_cost, "f"),
            "change_pct": round(float((cost - last_cost) / last_cost * 100), 1) if last_cost else None,
            **{f"{name}{suffix}": row.get(name, 0) for name in ("requests", "calls", "failures") + _TOKENS_SHOWN
               for suffix, row in (("", this), ("_previous", last))},
        })
    rows.sort(key=lambda row: (Decimal(0) if shift else -abs(Decimal(row["change_usd"])), row["group"]))
    return rows


def _billed(found: list[dict], chargeback: Chargeback) -> dict[str, dict]:
    """group -> billed_usd (effective x (1 + the tenant's markup), exact), and billed in the group's currency
    at each day's rate, rounded to its minor unit (None when the group's tenants bill in several currencies)."""
    sums: dict[str, dict] = {}
    for row in found:
        terms = chargeback.terms(row["tenant"])
        billed_usd = _usd(row["cost_usd"]) * (1 + terms.markup)
        group = sums.setdefault(row["group"], {"billed_usd": Decimal(0), "billed": Decimal(0),
                                               "currency": terms.currency})
        group["billed_usd"] += billed_usd
        group["billed"] += billed_usd * chargeback.rate(terms.currency, date.fromisoformat(row["day"]))
        if group["currency"] != terms.currency:
            group["currency"] = None
    return {group: {"billed_usd": format(totals["billed_usd"], "f"), "currency": totals["currency"],
                    "billed": format(totals["billed"].quantize(minor_unit(totals["currency"]), ROUND_HALF_UP), "f")
                    if totals["currency"] else None}
            for group, totals in sums.items()}


def _shifted(group: str, shift: timedelta) -> str:
    """A day ('2026-11-03') or hour ('2026-11-03 05:00:00') group `shift` later, written the same way."""
    moment = datetime.fromisoformat(group) + shift
    return moment.date().isoformat() if len(group) == 10 else moment.strftime("%Y-%m-%d %H:%M:%S")


def _usd(value) -> Decimal:
    return Decimal(value) if value is not None else Decimal(0)
