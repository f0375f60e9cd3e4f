"""Budgets per tenant, feature, user, project and ingest key, monthly or daily: the status endpoint a gateway
calls before a call (right for every level, under concurrent ingest, and a tenant key reads only its own
budgets), and each threshold of each budget notified once per period."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from otel_llmcost.alerts import grafana
from otel_llmcost.alerts.findings import SentBudgetThresholds, find
from otel_llmcost.alerts.ledger import LedgeredStore, SpendLedger
from otel_llmcost.alerts.rules import load_alert_rules
from otel_llmcost.keys import QUERY, KeyStore
from otel_llmcost.query.access import Gate
from otel_llmcost.query.clientsettings import Limits
from otel_llmcost.query.executor import QueryEngine
from otel_llmcost.query.interface import QueryListener
from otel_llmcost.store.chdb_store import ChdbStore
from query_clients import api_get
from test_store import BASE_ROW

BUDGETS = """
budgets:
  - {tenant: acme, usd: "10"}
  - {tenant: acme, period: daily, usd: "3"}
  - {tenant: acme, feature: chat, period: daily, usd: "2"}
  - {tenant: acme, user: u1, usd: "1.5"}
  - {tenant: acme, project: atlas, usd: "1"}
  - {tenant: acme, key: k1, period: daily, usd: "3"}
  - {tenant: globex, key: k1, usd: "100"}
  - {tenant: globex, usd: "5"}
budget_thresholds: [50, 100]
"""
NOW = datetime.now(timezone.utc)


def row(n: int, tenant: str, feature: str, user: str, cost: str, ts: datetime = NOW, project: str = "atlas",
        key: str = "k1"):
    return dataclasses.replace(BASE_ROW, ts=ts, tenant_id=tenant, feature=feature, user_id=user, span_id=f"{n:016x}",
                               cost_usd=Decimal(cost), project=project, api_key_id=key)


ROWS = [row(1, "acme", "chat", "u1", "0.75"), row(2, "acme", "chat", "u2", "0.5", key="k2"),
        row(3, "acme", "search", "u1", "1", project="zephyr"), row(4, "globex", "chat", "u9", "4")]
if NOW.day > 1:  # earlier this month: counts against the months, not the days
    ROWS.append(row(5, "acme", "chat", "u1", "0.25", NOW.replace(day=1)))


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    root = tmp_path_factory.mktemp("budgets")
    (root / "alerts.yaml").write_text(BUDGETS)
    rules = load_alert_rules(str(root / "alerts.yaml"))
    store = ChdbStore(str(root / "chdb"), "llmcost")
    store.ensure_schema()
    store.insert_usage(ROWS)  # before the receiver starts: the ledger reads them from the rollups
    ledger = SpendLedger()
    ledger.seed(store)
    writer = LedgeredStore(store, ledger)  # as `serve` inserts: each INSERT recorded once it succeeded
    keys = KeyStore(root / "keys.json")
    _, admin = keys.create(None, (QUERY,))
    _, acme = keys.create("acme", (QUERY,))
    _, globex = keys.create("globex", (QUERY,))
    engine = QueryEngine(str(root / "chdb"), "llmcost", Limits(10, 100_000, 10**8, 10**9), 4, 20)
    listener = QueryListener(engine, Gate(keys, "local"), "127.0.0.1", 0, engine.server_info(), alert_rules=rules,
                             ledger=ledger)
    listener.start()

    def get(secret: str = admin, **params) -> tuple[int, dict]:
        return api_get(listener.port, "/api/v1/budgets/status", secret, **params)

    yield get, writer, rules, {"acme": acme, "globex": globex}, ledger
    listener.stop()
    store.close()


def spent(rows, **match) -> Decimal:
    today = NOW.date()
    daily = match.pop("daily", False)
    return sum((r.cost_usd for r in rows if all(getattr(r, k) == v for k, v in match.items())
                and (r.ts.date() == today or not daily)), Decimal(0))


def test_every_level_that_applies_with_spent_remaining_and_reset(api):
    get, *_ = api
    status, body = get(tenant="acme", feature="chat", user="u1", project="atlas", key="k1")
    assert status == 200
    by_budget = {(b["budget"], b["period"]): b for b in body["budgets"]}
    assert set(by_budget) == {("tenant", "monthly"), ("tenant", "daily"), ("feature=chat", "daily"),
                              ("user=u1", "monthly"), ("project=atlas", "monthly"), ("key=k1", "daily")}
    expected = {("tenant", "monthly"): (spent(ROWS, tenant_id="acme"), Decimal(10)),
                ("tenant", "daily"): (spent(ROWS, tenant_id="acme", daily=True), Decimal(3)),
                ("feature=chat", "daily"): (spent(ROWS, tenant_id="acme", feature="chat", daily=True), Decimal(2)),
                ("user=u1", "monthly"): (spent(ROWS, tenant_id="acme", user_id="u1"), Decimal("1.5")),
                ("project=atlas", "monthly"): (spent(ROWS, tenant_id="acme", project="atlas"), Decimal(1)),
                ("key=k1", "daily"): (spent(ROWS, tenant_id="acme", api_key_id="k1", daily=True), Decimal(3))}
    for key, (used, budget) in expected.items():
        answer = by_budget[key]
        assert (Decimal(answer["spent_usd"]), Decimal(answer["budget_usd"])) == (used, budget), key
        assert Decimal(answer["remaining_usd"]) == max(budget - used, 0) and answer["allowed"] == (used < budget)
    assert by_budget[("user=u1", "monthly")]["allowed"] is False and body["allowed"] is False  # 1.5+ of 1.5 (or 2)
    assert by_budget[("project=atlas", "monthly")]["allowed"] is False and by_budget[("key=k1", "daily")]["allowed"]
    tomorrow = (NOW.date() + timedelta(days=1)).isoformat() + "T00:00:00Z"
    assert by_budget[("tenant", "daily")]["resets_at"] == tomorrow
    assert by_budget[("tenant", "monthly")]["resets_at"].endswith("-01T00:00:00Z")
    # another feature and user of the tenant count against the tenant's budgets only
    _, other = get(tenant="acme", feature="search", user="u7", project="zephyr", key="k2")
    assert {b["budget"] for b in other["budgets"]} == {"tenant"} and other["allowed"] is True
    # the same key id under another tenant is that tenant's budget, with that tenant's spend
    _, globex = get(tenant="globex", key="k1")
    assert [(b["budget"], Decimal(b["spent_usd"])) for b in globex["budgets"] if b["budget"] != "tenant"] == [
        ("key=k1", Decimal(4))]


def test_a_tenant_key_reads_only_its_own_budgets(api):
    get, _, _, secrets, _ = api
    status, body = get(secrets["acme"])
    assert status == 200 and body["tenant"] == "acme" and len(body["budgets"]) == 2
    status, body = get(secrets["acme"], tenant="globex")
    assert status == 403 and body["name"] == "ACCESS_DENIED"
    status, body = get(secrets["globex"], user="u9")
    assert [(b["budget"], Decimal(b["spent_usd"])) for b in body["budgets"]] == [("tenant", Decimal(4))]
    assert get()[0] == 400  # an admin key names the tenant


def test_answers_stay_right_under_concurrent_ingest_at_every_level(api):
    """Batches land while a gateway asks: each answer shows whole batches, at every level at once, and the
    last one what the rollups hold."""
    get, writer, _, _, ledger = api
    asked = {"tenant": "acme", "feature": "chat", "user": "u1", "project": "atlas", "key": "k1"}
    batches = [[row(100 + 10 * b + n, "acme", "chat", "u1", "0.01") for n in range(5)]
               + [row(105 + 10 * b + n, "acme", "search", "u3", "0.02", project="zephyr", key="k2") for n in range(4)]
               + [row(109 + 10 * b, "globex", "chat", "u1", "0.01")] for b in range(12)]
    done = threading.Event()

    def ingest():
        for batch in batches:
            writer.insert_usage(batch)
        done.set()

    def levels() -> dict[tuple[str, str], Decimal]:
        status, body = get(**asked)
        assert status == 200
        return {(b["budget"], b["period"]): Decimal(b["spent_usd"]) for b in body["budgets"]}

    before = levels()
    assert set(before) == {("tenant", "monthly"), ("tenant", "daily"), ("feature=chat", "daily"),
                           ("user=u1", "monthly"), ("project=atlas", "monthly"), ("key=k1", "daily")}
    seen = []
    thread = threading.Thread(target=ingest)
    thread.start()
    while not done.is_set() or len(seen) < 3:
        seen.append(levels())
    thread.join()
    seen.append(levels())
    per_batch = {budget: Decimal("0.13") if budget[0] == "tenant" else Decimal("0.05") for budget in before}
    for answer in seen:  # n whole batches at every level, the same n: never a part of one, nor one level ahead
        [batches_in] = {(answer[budget] - before[budget]) / per_batch[budget] for budget in before}
        assert batches_in == int(batches_in) and 0 <= batches_in <= len(batches)
    assert [a[("tenant", "monthly")] for a in seen] == sorted(a[("tenant", "monthly")] for a in seen)
    assert {budget: seen[-1][budget] - before[budget] for budget in before} == {
        budget: 12 * amount for budget, amount in per_batch.items()}
    # the ledger kept in memory agrees with the rollups, the truth a restart starts from, at every level
    restarted = SpendLedger()
    restarted.seed(writer)
    for tenant, scopes in (("acme", asked), ("acme", {"feature": "search", "user": "u3", "project": "zephyr",
                                                       "key": "k2"}), ("globex", {"feature": "chat", "key": "k1"})):
        assert ledger.spent(tenant, scopes) == restarted.spent(tenant, scopes)


def test_each_threshold_of_each_budget_once_per_period_and_the_grafana_rule_agrees(api, tmp_path):
    _, writer, rules, *_ = api
    found = [f for f in find(writer, rules) if f.rule == "scoped_budget_threshold"]
    labels = {(f.labels["tenant_id"], f.labels["budget"], f.labels["threshold"]) for f in found}
    assert ("acme", "user=u1", "100") in labels and ("acme", "feature=chat", "50") in labels
    assert ("acme", "project=atlas", "100") in labels and ("acme", "key=k1", "50") in labels
    assert ("acme", "key=k1", "100") not in labels and ("globex", "key=k1", "50") not in labels
    assert all(f.labels["period"] in (NOW.strftime("%Y-%m"), NOW.date().isoformat()) for f in found)
    sent = SentBudgetThresholds(tmp_path / "sent.json")
    sent.record(sent.unsent(found))
    assert [f for f in sent.unsent(find(writer, rules)) if f.rule == "scoped_budget_threshold"] == []
    rows = writer.query(grafana.rule_sql("scoped_budget_threshold", rules))
    assert {(r["tenant_id"], r["budget"], r["threshold"]) for r in rows} == labels
