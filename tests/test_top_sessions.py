"""Most expensive sessions from sessions_daily (migration 015): the candidates above the floor of the range's 100
costliest session-days, each re-summed exactly; the same list as the raw calls' own top 50."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from grafana_plugin import by_uid, expand, queries, settings
from otel_llmcost.store.chdb_store import ChdbStore

DAY = datetime(2026, 11, 3, tzinfo=timezone.utc)
BOARD = "llmcost-tenants"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    opened = ChdbStore(str(tmp_path_factory.mktemp("sessions") / "chdb"), "llmcost")
    opened.ensure_schema()
    # 3 tenants x 80 sessions a day over 4 days, costs spread by a hash; one session of acme's on every day
    # (each day above the floor: one below it on every day is not listed); calls without a session; two batches
    # (a session-day in parts).
    for batch in range(2):
        opened.command(f"""
INSERT INTO llmcost.llm_usage (ts, tenant_id, session_id, request_id, cost_usd, provider, request_model)
SELECT toDateTime64('{DAY:%Y-%m-%d %H:%M:%S}', 6, 'UTC') + toIntervalMinute(number % 5760) AS ts,
  ['acme', 'globex', 'initech'][number % 3 + 1] AS tenant_id,
  if(number % 17 = 0, '', concat('s-', toString(intDiv(number % 5760, 1440)), '-', toString(number % 80))),
  concat('r-', toString(number % 400)), toDecimal128((cityHash64(number, {batch}) % 100000) / 1000000, 12),
  'openai', 'gpt-4o'
FROM numbers({batch * 9000}, 9000)""")
    opened.command(f"""
INSERT INTO llmcost.llm_usage (ts, tenant_id, session_id, request_id, cost_usd)
SELECT toDateTime64('{DAY:%Y-%m-%d}', 6, 'UTC') + toIntervalHour(number * 24 + 5), 'acme', 'long', 'rl',
  toDecimal128('1.5', 12) FROM numbers(4)""")
    yield opened
    opened.close()


def _shown(store, since, until, **chosen) -> list[tuple]:
    sql = next(text for name, text in queries(by_uid(BOARD)).items() if "'Most expensive sessions'" in name)
    rows = store.query(expand(sql, settings(BOARD, **chosen), (since, until)))
    return [(r["tenant_id"], r["session_id"], Decimal(r["cost"]), r["calls"]) for r in rows]


def _raw(store, since, until, where="1", limit=50) -> list[tuple]:
    rows = store.query(
        "SELECT tenant_id, session_id, toString(sum(ifNull(cost_usd, 0))) AS c, count() AS calls FROM llmcost.llm_usage"
        f" WHERE ts >= toDateTime('{since:%Y-%m-%d}', 'UTC') AND ts < toDateTime('{until:%Y-%m-%d}', 'UTC') + "
        f"INTERVAL 1 DAY AND session_id != '' AND {where} GROUP BY tenant_id, session_id "
        f"ORDER BY sum(ifNull(cost_usd, 0)) DESC, calls DESC LIMIT {limit}")
    return [(r["tenant_id"], r["session_id"], Decimal(r["c"]), r["calls"]) for r in rows]


@pytest.mark.parametrize("days", [(0, 3), (1, 2), (2, 2)])
def test_the_top_sessions_are_the_raw_calls_top_sessions(store, days):
    since = DAY + timedelta(days=days[0], hours=7, minutes=13)
    until = DAY + timedelta(days=days[1], hours=16, minutes=2)
    floor = store.query(f"SELECT -arrayElement(groupArraySortedMerge(100)(peak_costs), 100) AS f FROM "
                        f"llmcost.session_peaks_daily WHERE day >= '{since:%Y-%m-%d}' AND day <= '{until:%Y-%m-%d}'")
    assert Decimal(floor[0]["f"]) > 0  # the floor prunes: more than 100 session-days in range
    # before the two batches' rows are merged, a session's day is two rows, each compared with the floor: every
    # session shown has its exact sums, though one with both halves below the floor may be missing
    exact = {(r[0], r[1]): r for r in _raw(store, since, until, limit=10**6)}
    assert all(exact[row[:2]] == row for row in _shown(store, since, until))
    store.command("OPTIMIZE TABLE llmcost.sessions_daily FINAL")  # what the background merges do
    shown = _shown(store, since, until)
    assert len(shown) == 50 and shown == _raw(store, since, until)
    if days == (0, 3):
        assert shown[0] == ("acme", "long", Decimal(6), 4)  # its days summed
    assert _shown(store, since, until, tenant="globex") == _raw(store, since, until, "tenant_id = 'globex'")
    # another variable: from the requests table or the raw calls, the same days
    assert _shown(store, since, until, model="gpt-4o") == _raw(store, since, until, "request_model = 'gpt-4o'")
