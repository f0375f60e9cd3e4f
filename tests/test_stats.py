"""`stats` from the rollups: exact against raw rows for ranges off the hour, filters, groupings, --compare."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import pytest

from conftest import read_only_store, run_cli
from otel_llmcost.reports.usage_stats import GROUPS, StatsQuery, stats_rows
from otel_llmcost.store.chdb_store import ChdbStore
from test_migrations import _rows

_RAW = """
SELECT {group} AS group, uniqExact(tenant_id, request_id) AS requests, count() AS calls,
       countIf(status = 'error') AS failures, sum(input_tokens) AS input_tokens, sum(llm_usage.cost_usd) AS cost_usd
FROM llmcost.llm_usage
WHERE ts >= {{since:DateTime64(6, 'UTC')}} AND ts < {{until:DateTime64(6, 'UTC')}} {where}
GROUP BY group ORDER BY group
"""
_RAW_GROUPS = {None: "'all'", "tenant": "tenant_id", "feature": "feature", "user": "user_id", "model": "request_model",
               "session": "session_id", "project": "project", "key": "api_key_id", "day": "toString(toDate(ts))",
               "hour": "toString(toStartOfHour(ts))"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("stats")
    store = ChdbStore(str(path / "chdb"), "llmcost")
    store.ensure_schema()
    rows = _stats_rows()
    for start in range(0, len(rows), 50):  # several batches: requests rows of one request merge on read
        store.insert_usage(rows[start:start + 50])
    store.close()
    return path


def _stats_rows():
    """Calls over two months: users, sessions, projects (some none), two ingest keys, and a contract discount
    (multiplier 0.8) on every fourth call."""
    return [dataclasses.replace(row, user_id=f"u{n % 4}", session_id=f"s{n % 7}",
                                request_model=("m1", "m2")[n % 3 == 0], project=("atlas", "zephyr", "")[n // 2 % 3],
                                api_key_id=("k1", "k2")[n % 5 == 0], ts=row.ts + timedelta(minutes=13 * n),
                                price_multiplier=Decimal("0.8") if n % 4 == 0 else Decimal(1))
            for n, row in enumerate(_rows(240))]


def _cents(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01"), ROUND_HALF_UP))


def _by_group(rows):
    return {row["group"]: row for row in rows}


def _by_tenant(rows):
    return {row["tenant"]: row for row in rows}


@pytest.fixture
def store(data_dir) -> ChdbStore:
    return read_only_store(data_dir / "chdb")


@pytest.mark.parametrize("by", list(_RAW_GROUPS))
def test_stats_equal_raw_rows_for_ranges_off_the_hour(store, by):
    since = datetime(2026, 10, 23, 7, 17, 3, 5, tzinfo=timezone.utc)
    for until in (since + timedelta(minutes=20), since + timedelta(days=9, minutes=31), since + timedelta(days=60)):
        params = {"since": since.strftime("%Y-%m-%d %H:%M:%S.%f"), "until": until.strftime("%Y-%m-%d %H:%M:%S.%f")}
        raw = store.query(_RAW.format(group=_RAW_GROUPS[by], where=""), params)
        rolled = _by_group(stats_rows(store, StatsQuery(by, {}), since, until))
        assert set(rolled) == {row["group"] for row in raw}
        for row in raw:
            got = rolled[row["group"]]
            assert {k: got[k] for k in row} == row, (by, until)


def test_filters_each_read_only_their_calls(store):
    since, until = datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, 0, 30, tzinfo=timezone.utc)
    params = {"since": "2026-10-01 00:00:00", "until": "2027-01-01 00:30:00"}
    for flag, column, value in (("tenant", "tenant_id", "t1"), ("feature", "feature", "chat"),
                                ("user", "user_id", "u2"), ("model", "request_model", "m2"),
                                ("provider", "provider", "openai"), ("session", "session_id", "s3"),
                                ("project", "project", "zephyr"), ("key", "api_key_id", "k2")):
        raw = store.query(_RAW.format(group="'all'", where=f"AND {column} = '{value}'"), params)
        [rolled] = stats_rows(store, StatsQuery(None, {flag: value}), since, until)
        assert {k: rolled[k] for k in raw[0]} == raw[0], flag
    [both] = stats_rows(store, StatsQuery("user", {"tenant": "t0", "feature": "search"}), since, until)[:1]
    assert both["calls"] > 0


@pytest.mark.parametrize("by, flag, column, value", [
    ("user", "model", "request_model", "m2"),  # requests keeps no model: all raw
    ("model", "user", "user_id", "u1"),
    ("tenant", "user", "user_id", "u2"),  # whole hours from requests, by user
    ("model", "feature", "feature", "chat"),  # whole hours from request_counts_hourly
    ("project", "tenant", "tenant_id", "t1"),  # whole hours from projects_hourly
    ("day", "project", "project", "zephyr"),
    ("tenant", "key", "api_key_id", "k1"),
    ("key", "feature", "feature", "chat"),  # projects_hourly keeps no feature: all raw
    ("model", "project", "project", "atlas"),
    ("project", "user", "user_id", "u3"),
])
def test_groups_with_filters_equal_raw_rows(store, by, flag, column, value):
    since, until = datetime(2026, 10, 22, 5, 41, tzinfo=timezone.utc), datetime(2026, 12, 2, 3, 7, tzinfo=timezone.utc)
    params = {"since": "2026-10-22 05:41:00", "until": "2026-12-02 03:07:00"}
    raw = store.query(_RAW.format(group=_RAW_GROUPS[by], where=f"AND {column} = '{value}'"), params)
    rolled = _by_group(stats_rows(store, StatsQuery(by, {flag: value}), since, until))
    assert len(raw) > 1 and set(rolled) == {row["group"] for row in raw}
    for row in raw:
        assert {k: rolled[row["group"]][k] for k in row} == row


def test_equal_request_ids_of_two_tenants_are_two_requests(tmp_path):
    from test_store import BASE_ROW

    store = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    store.ensure_schema()
    store.insert_usage([dataclasses.replace(BASE_ROW, tenant_id=tenant, span_id=f"{n:016x}", request_id="same")
                        for n, tenant in enumerate(("a", "b", "b"))])
    at = BASE_ROW.ts
    [total] = stats_rows(store, StatsQuery(None, {}), at - timedelta(days=1), at + timedelta(days=1))
    assert (total["requests"], total["calls"]) == (2, 3)
    store.close()


def test_time_groups_are_in_time_order_and_json_keys_say_what_they_hold(data_dir):
    args = ("stats", "--data-dir", str(data_dir), "--since", "2026-11-10", "--until", "2026-11-20T05:00")
    for by, length in (("day", 10), ("hour", 19)):
        rows = [json.loads(line) for line in run_cli(*args, "--by", by, "--json").stdout.splitlines()]
        times = [row[by] for row in rows]
        assert len(times) > 5 and times == sorted(times) and {len(t) for t in times} == {length}
        assert "group" not in rows[0]
        compared = [json.loads(line) for line in run_cli(*args, "--by", by, "--compare", "--json").stdout.splitlines()]
        assert [row[by] for row in compared] == sorted(row[by] for row in compared)
    [total] = [json.loads(line) for line in run_cli(*args, "--json").stdout.splitlines()]
    assert "group" not in total and total["calls"] > 0
    table = run_cli(*args, "--by", "day").stdout.splitlines()
    days = [line.split()[0] for line in table[1:]]
    assert days == sorted(days) and table[0].split()[:2] == ["day", "cost_usd"]
    assert all(line.split()[1].startswith("$") and len(line.split()[1].split(".")[1]) == 4 for line in table[1:])


def test_compare_shows_the_change_per_group(data_dir):
    args = ("stats", "--data-dir", str(data_dir), "--since", "2026-11-10", "--until", "2026-11-20", "--by", "tenant",
            "--compare", "--json")
    rows = [json.loads(line) for line in run_cli(*args).stdout.splitlines()]
    now = _by_tenant(json.loads(line) for line in run_cli(*args[:-2], "--json").stdout.splitlines())
    before = _by_tenant(json.loads(line) for line in run_cli(
        "stats", "--data-dir", str(data_dir), "--since", "2026-10-31", "--until", "2026-11-10", "--by", "tenant",
        "--json").stdout.splitlines())
    assert {row["tenant"] for row in rows} == set(now) | set(before)
    for row in rows:
        cost, last = Decimal(now[row["tenant"]]["cost_usd"]), Decimal(before[row["tenant"]]["cost_usd"])
        assert Decimal(row["change_usd"]) == cost - last
        for name in ("calls", "input_tokens", "output_tokens", "cache_read_tokens"):
            assert (row[name], row[f"{name}_previous"]) == (now[row["tenant"]][name], before[row["tenant"]][name])
    changes = [abs(Decimal(row["change_usd"])) for row in rows]
    assert changes == sorted(changes, reverse=True)
    assert set(GROUPS) - {None} == {"tenant", "feature", "model", "provider", "environment", "service", "user",
                                    "session", "project", "key", "day", "hour"}


def test_list_effective_and_billed_cost_apart(data_dir, tmp_path):
    """List = effective / the contract multiplier, per call; billed = effective x (1 + the tenant's markup), in
    its currency at each day's rate; a group of tenants billed in two currencies has no single billed figure."""
    terms = tmp_path / "chargeback.yaml"
    terms.write_text('currencies:\n  EUR:\n    - {from: 2026-10-01, rate: "0.9"}\n'
                     '    - {from: 2026-11-15, rate: "0.95"}\n'
                     'tenants:\n  t0: {markup: "0.10", currency: EUR}\n  t1: {markup: "-0.05"}\n')
    args = ("stats", "--data-dir", str(data_dir), "--since", "2026-10-01", "--until", "2027-01-01", "--json")
    store = ChdbStore(str(data_dir / "chdb"), "llmcost", read_only=True)
    calls = store.query("SELECT tenant_id, toDate(ts) AS day, toString(cost_usd) AS cost, toString(price_multiplier)"
                        " AS multiplier FROM llmcost.llm_usage WHERE cost_usd IS NOT NULL")  # as stored: 12 decimals
    store.close()
    by_tenant = {row["tenant"]: row for row in map(json.loads, run_cli(
        *args, "--by", "tenant", "--chargeback", str(terms)).stdout.splitlines())}
    markups, rates = {"t0": Decimal("1.10"), "t1": Decimal("0.95"), "t2": Decimal(1)}, {"t1": None, "t2": None}
    for tenant, row in by_tenant.items():
        mine = [call for call in calls if call["tenant_id"] == tenant]
        effective = sum(Decimal(call["cost"]) for call in mine)
        assert Decimal(row["list_cost_usd"]) == sum(  # each call's list cost exact to its 12th decimal
            (Decimal(call["cost"]) / Decimal(call["multiplier"])).quantize(Decimal("1e-12"), ROUND_DOWN)
            for call in mine)
        assert Decimal(row["cost_usd"]) == effective and Decimal(row["billed_usd"]) == effective * markups[tenant]
        if tenant in rates:
            assert (row["billed"], row["billed_currency"]) == (_cents(effective * markups[tenant]), "USD")
    eur = sum(Decimal(call["cost"]) * Decimal("1.10") * Decimal("0.9" if call["day"] < "2026-11-15" else "0.95")
              for call in calls if call["tenant_id"] == "t0")
    assert (by_tenant["t0"]["billed"], by_tenant["t0"]["billed_currency"]) == (_cents(eur), "EUR")
    assert Decimal(by_tenant["t0"]["list_cost_usd"]) > Decimal(by_tenant["t0"]["cost_usd"])  # the discount
    [mixed] = map(json.loads, run_cli(*args, "--chargeback", str(terms)).stdout.splitlines())
    assert mixed["billed"] is None and mixed["billed_currency"] is None
    assert Decimal(mixed["billed_usd"]) == sum(Decimal(row["billed_usd"]) for row in by_tenant.values())
    [plain] = map(json.loads, run_cli(*args).stdout.splitlines())  # without terms: billed is the effective cost
    assert plain["billed_usd"] == plain["cost_usd"] and "billed" not in plain
