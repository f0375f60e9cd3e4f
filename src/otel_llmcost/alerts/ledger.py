"""This month's spend per tenant, feature, user, project and ingest key, kept in memory by the process that holds
the store: what GET /api/v1/budgets/status answers from, without a query (a gateway asks before every call; one
query over the rollups costs 15-20 ms of chDB CPU at 200k rows, the ledger's answer a few µs).

- Seeded from the rollups when the receiver starts, before the flusher or any ingest worker runs: the truth,
  every row stored until then, from this month's first day on (also after a crash, a repricing or a rollup
  rebuild, which run while the receiver is stopped: chDB has one process per data directory).
- Advanced by each INSERT of usage rows that succeeds, after it succeeded: this process's own flusher's (one
  ingest worker, via LedgeredStore.insert_usage) or an ingest worker's, whose spend travels with its Native
  block in the same store call (flush/handoff.py), so a worker killed mid-way leaves the ledger and the table
  agreeing. The writer leaves out rows stored already before it inserts (flush/writer.py): a replayed or
  re-sent call is counted once.
- Exact: Decimal sums of the rows' cost_usd (Decimal(38, 12) as stored), equal to the rollups' to the digit.

Amounts are kept per day (UTC, the rollups' toDate(ts)); days before the current month are dropped when the
month turns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from otel_llmcost.alerts.budgets import LEVELS, SPEND_SINCE
from otel_llmcost.alerts.queries import bind
from otel_llmcost.model import UsageRow

#: (tenant, level, scope, day) -> the cost stored for them: what one INSERT adds (picklable, for the workers' pipe)
Spend = dict[tuple[str, str, str, date], Decimal]
_ZERO = Decimal(0)


def spend_of(rows: Iterable[UsageRow]) -> Spend:
    """What these rows add at every level (tenant: scope "")."""
    spend: Spend = {}
    for row in rows:
        if row.cost_usd is None or not row.cost_usd:
            continue
        day = _utc_day(row.ts)
        for level, scope in zip(LEVELS, ("", row.feature, row.user_id, row.project, row.api_key_id), strict=True):
            key = (row.tenant_id, level, scope, day)
            spend[key] = spend.get(key, _ZERO) + row.cost_usd
    return spend


class SpendLedger:
    """Thread-safe: the store calls (flusher, the workers' links) record, the query listener reads."""

    def __init__(self, today: Callable[[], date] = lambda: datetime.now(timezone.utc).date()):
        self._today = today
        self._lock = threading.Lock()
        self._since = today().replace(day=1)  # the first day kept
        self._days: dict[tuple[str, str, str], dict[date, Decimal]] = {}

    def seed(self, store: Any) -> None:
        """Replace what is kept by this month's spend in the rollups (`store`: anything with query())."""
        since = self._today().replace(day=1)
        rows = store.query(bind(SPEND_SINCE, store.database), {"month_start": since.isoformat()})
        with self._lock:
            self._since, self._days = since, {}
            self._add({(r["tenant_id"], r["level"], r["scope"], date.fromisoformat(r["day"])): Decimal(r["cost_usd"])
                       for r in rows})

    def record(self, spend: Spend) -> None:
        """Count what a successful INSERT stored."""
        if spend:
            with self._lock:
                self._turn_month()
                self._add(spend)

    def spent(self, tenant: str, scopes: dict[str, str]) -> dict[str, Decimal]:
        """The tenant's spend this month and today, in total and for the feature, user, project and key asked
        about: {"month_usd", "today_usd", "feature_month_usd", "feature_today_usd", ...} (budgets.status's)."""
        today = self._today()
        month_start = today.replace(day=1)
        answer = {}
        with self._lock:
            self._turn_month()
            for level in LEVELS:
                days = self._days.get((tenant, level, scopes.get(level, "") if level != "tenant" else ""), {})
                prefix = "" if level == "tenant" else f"{level}_"
                answer[f"{prefix}month_usd"] = sum((v for d, v in days.items() if d >= month_start), _ZERO)
                answer[f"{prefix}today_usd"] = days.get(today, _ZERO)
        return answer

    def _add(self, spend: Spend) -> None:
        for (tenant, level, scope, day), cost in spend.items():
            if day >= self._since:
                days = self._days.setdefault((tenant, level, scope), {})
                days[day] = days.get(day, _ZERO) + cost

    def _turn_month(self) -> None:
        since = self._today().replace(day=1)
        if since > self._since:
            self._since = since
            for key in list(self._days):
                days = {d: v for d, v in self._days[key].items() if d >= since}
                if days:
                    self._days[key] = days
                else:
                    del self._days[key]


class LedgeredStore:
    """The store as the owner's write path sees it: each successful INSERT of usage rows recorded in the ledger
    (this process's flusher: insert_usage; an ingest worker's Native block: insert_native with its spend)."""

    def __init__(self, store: Any, ledger: SpendLedger):
        self._store, self._ledger = store, ledger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def insert_usage(self, rows: Sequence[UsageRow], /) -> None:
        self._store.insert_usage(rows)
        self._ledger.record(spend_of(rows))

    def insert_native(self, table: str, names: Sequence[str], payload: bytes, dedup_token: str = "",
                      spend: Spend | None = None) -> None:
        self._store.insert_native(table, names, payload, dedup_token)
        if spend:
            self._ledger.record(spend)


def _utc_day(moment: datetime) -> date:
    return (moment if moment.tzinfo is None else moment.astimezone(timezone.utc)).date()
