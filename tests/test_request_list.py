"""The drill-down's request list on more requests than it shows: it reads only the range's newest hours, and
still lists exactly the newest 500 requests with all their calls (one of them began hours earlier)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from scripts.dashboards.drilldown import LIST_CALLS

from otel_llmcost.store.chdb_store import ChdbStore
from test_grafana import run
from test_store import BASE_ROW

START = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)
HOURS, PER_HOUR = 6, 1200  # 7,200 one-call requests: more calls than LIST_CALLS, so the list skips hours


def _call(n: int, request_id: str, ts: datetime, tenant: str):
    return dataclasses.replace(BASE_ROW, span_id=f"{n:016x}", trace_id=f"{n:032x}", ts=ts, tenant_id=tenant,
                               feature="chat", request_id=request_id, cost_usd=Decimal(n % 97) / 1000)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rows = [_call(n, f"r{n}", START + timedelta(seconds=n * 3), ("acme", "globex")[n % 2])
            for n in range(HOURS * PER_HOUR)]
    # a request that began in the first hour and ended in the last: listed with both its calls
    rows += [_call(10**6, "long", START + timedelta(minutes=10), "acme"),
             _call(10**6 + 1, "long", START + timedelta(hours=5, minutes=50, seconds=1), "acme")]
    opened = ChdbStore(str(tmp_path_factory.mktemp("request-list") / "chdb"), "llmcost")
    opened.ensure_schema()
    for first in range(0, len(rows), 1000):
        opened.insert_usage(rows[first:first + 1000])
    yield opened
    opened.close()


def test_the_list_is_the_newest_requests_with_all_their_calls(store):
    assert HOURS * PER_HOUR > LIST_CALLS + PER_HOUR  # the first hour is beyond the list's window
    time_range = (START, START + timedelta(hours=HOURS))
    listed = run(store, "llmcost-drilldown", "Requests of feature ${feature}", time_range, feature="chat")
    expected = store.query(
        "SELECT tenant_id, request_id, count() AS calls, toString(sum(cost_usd)) AS cost, toString(min(ts)) AS first_ts"
        " FROM llmcost.llm_usage GROUP BY tenant_id, request_id ORDER BY max(ts) DESC, tenant_id, request_id LIMIT 500")
    assert [(r["tenant_id"], r["request_id"], r["calls"], r["cost"], r["first_ts"]) for r in listed] == [
        (r["tenant_id"], r["request_id"], r["calls"], str(Decimal(r["cost"])), r["first_ts"]) for r in expected]
    assert ("long", 2) in [(r["request_id"], r["calls"]) for r in listed]


def test_one_tenants_list_holds_only_its_requests(store):
    time_range = (START, START + timedelta(hours=HOURS))
    listed = run(store, "llmcost-drilldown", "Requests of feature ${feature}", time_range, tenant="globex")
    assert len(listed) == 500 and {r["tenant_id"] for r in listed} == {"globex"}
    assert listed[0]["request_id"] == f"r{HOURS * PER_HOUR - 1}"  # the newest call of all is globex's
