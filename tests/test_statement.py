"""`otel-llmcost statement`: a tenant's month with list, effective and billed figures apart; the billed total is
the sum of the rows after markup and currency, to the cent; the dashboards bill the same from the stored terms."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import pytest

from conftest import run_cli
from finops_data import ledger, with_contract_discount
from grafana_plugin import by_uid, expand, queries, settings
from otel_llmcost.reports.chargeback import load_chargeback, minor_unit
from otel_llmcost.reports.focus import Month
from otel_llmcost.reports.statement import statement
from otel_llmcost.reports.stored_terms import store_terms, stored_terms
from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.remote import RemoteStore
from test_store import BASE_ROW

CHARGEBACK = """
currencies:
  EUR:
    - {from: 2026-11-01, rate: "0.9214"}
    - {from: 2026-11-04, rate: "0.93075"}
  JPY:
    - {from: 2026-10-01, rate: "151.37"}
tenants:
  acme: {markup: "0.15", currency: EUR}
  initech: {markup: "-0.05", currency: JPY}
  "*": {markup: "0.02"}
"""


def stored_rows():  # initech has a 20 % contract discount in the price book; acme's calls are of two projects and none
    rows = with_contract_discount(ledger(), "initech", Decimal("0.8"))
    return [dataclasses.replace(row, project=("atlas", "zephyr", "")[n % 3]) if row.tenant_id == "acme" else row
            for n, row in enumerate(rows)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("statement")
    store = ChdbStore(str(path / "chdb"), "llmcost")
    store.ensure_schema()
    store.insert_usage(stored_rows())
    store.close()
    (path / "chargeback.yaml").write_text(CHARGEBACK)
    return path


def document(data_dir, tenant: str) -> dict:
    return json.loads(run_cli("statement", "--data-dir", str(data_dir), "--tenant", tenant, "--month", "2026-11",
                              "--chargeback", str(data_dir / "chargeback.yaml"), "--format", "json").stdout)


def test_billed_total_is_the_rows_after_markup_and_exchange_rate_to_the_cent(data_dir):
    statement = document(data_dir, "acme")
    assert (statement["currency"], statement["markup"]) == ("EUR", "0.15")
    effective = defaultdict(Decimal)  # per day, project, feature, provider, model, from the calls themselves
    for row in stored_rows():
        if row.tenant_id == "acme":
            effective[(row.ts.date().isoformat(), row.project, row.feature, row.provider, row.response_model)] += (
                row.cost_usd)
    rates = {"2026-11-03": Decimal("0.9214"), "2026-11-04": Decimal("0.93075"), "2026-11-05": Decimal("0.93075")}
    expected = {key: (usd * Decimal("1.15") * rates[key[0]]).quantize(Decimal("0.01"), ROUND_HALF_UP)
                for key, usd in effective.items()}
    lines = {(line["day"], line["project"], line["feature"], line["provider"], line["model"]): line
             for line in statement["lines"]}
    assert {key[1] for key in lines} == {"atlas", "zephyr", ""}
    assert {key: Decimal(line["billed"]) for key, line in lines.items()} == expected
    assert Decimal(statement["billed"]) == sum(expected.values()) == sum(Decimal(x["billed"]) for x in lines.values())
    assert Decimal(statement["list_usd"]) == Decimal(statement["effective_usd"]) == sum(effective.values())
    assert {line["rate"] for line in lines.values() if line["day"] == "2026-11-04"} == {"0.93075"}


def test_contract_discount_markdown_and_a_currency_without_cents(data_dir):
    statement = document(data_dir, "initech")
    rows = [row for row in stored_rows() if row.tenant_id == "initech"]
    assert Decimal(statement["effective_usd"]) == sum(row.cost_usd for row in rows)
    assert Decimal(statement["list_usd"]) == sum(row.cost_usd / Decimal("0.8") for row in rows)
    assert all(line["billed"].isdigit() for line in statement["lines"])  # yen: no minor unit
    assert Decimal(statement["billed"]) == sum(
        (Decimal(line["effective_usd"]) * Decimal("0.95") * Decimal("151.37")).quantize(Decimal(1), ROUND_HALF_UP)
        for line in statement["lines"])
    other = document(data_dir, "globex")  # the "*" terms
    assert (other["currency"], other["markup"]) == ("USD", "0.02")


def test_csv_statement_ends_with_the_total_of_its_rows(data_dir):
    text = run_cli("statement", "--data-dir", str(data_dir), "--tenant", "acme", "--month", "2026-11",
                   "--chargeback", str(data_dir / "chargeback.yaml")).stdout
    *lines, total = list(csv.DictReader(io.StringIO(text)))
    groups = {(r.ts.date(), r.project, r.feature, r.provider, r.response_model) for r in stored_rows()
              if r.tenant_id == "acme"}
    assert total["day"] == "TOTAL" and len(lines) == len(groups) > 6  # 6 without the projects
    assert Decimal(total["billed"]) == sum(Decimal(line["billed"]) for line in lines)
    assert Decimal(total["effective_usd"]) == sum(Decimal(line["effective_usd"]) for line in lines)


def test_bad_terms_are_refused_with_the_reason(data_dir, tmp_path):
    for text, reason in (("tenants: {acme: {currency: EUR}}", "no exchange rates for EUR"),
                         ("currencies: {EUR: [{from: 2026-11-01, rate: 0.92}]}", "write it as a string"),
                         ("currencies: {EUR: [{from: 2026-12-01, rate: '0.92'}]}\ntenants: {acme: {currency: EUR}}",
                          "no EUR exchange rate for 2026-11-03")):
        (tmp_path / "terms.yaml").write_text(text)
        result = run_cli("statement", "--data-dir", str(data_dir), "--tenant", "acme", "--month", "2026-11",
                         "--chargeback", str(tmp_path / "terms.yaml"), check=False)
        assert result.returncode == 2 and reason in result.stderr, result.stderr


def test_the_receiver_stores_its_terms_and_the_dashboards_bill_from_them(tmp_path, receiver_factory):
    """`serve` with chargeback.file stores the terms; the committed Tenants panel then shows each tenant's month
    billed as `statement` bills it, and after a restart with other terms, the other figures: no rebuild."""
    copy = tmp_path / "data"
    store = ChdbStore(str(copy / "chdb"), "llmcost")
    store.ensure_schema()
    store.insert_usage(stored_rows())
    store.close()
    terms = tmp_path / "chargeback.yaml"
    panel = queries(by_uid("llmcost-tenants"))["panel 'Tenants: list, effective and billed cost' A"]
    month = (datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 30, 23, 59, 59, tzinfo=timezone.utc))
    for text in (CHARGEBACK, CHARGEBACK.replace('acme: {markup: "0.15", currency: EUR}', 'acme: {markup: "0.4"}')):
        terms.write_text(text)
        receiver = receiver_factory({"chargeback": {"file": str(terms)}}, data_dir=copy)
        shown = {row["tenant_id"]: row for row in RemoteStore.of_running_receiver(str(copy), "llmcost").query(
            expand(panel, settings("llmcost-tenants"), month))}
        receiver.stop()
        for tenant in ("acme", "initech", "globex"):
            billed = json.loads(run_cli("statement", "--data-dir", str(copy), "--tenant", tenant, "--month",
                                        "2026-11", "--chargeback", str(terms), "--format", "json").stdout)
            assert (shown[tenant]["currency"], Decimal(shown[tenant]["billed"])) == (
                billed["currency"], Decimal(billed["billed"])), tenant
        assert shown["acme"]["currency"] == ("EUR" if text == CHARGEBACK else "USD")


def test_billed_cost_reads_the_stored_terms_and_is_the_statements_to_the_cent(tmp_path):
    """The Tenants and Chargeback boards' billed cost for a month equals `statement`'s for every tenant (rounded
    per statement line, not once), from the terms stored in the database: storing other terms changes what the
    same committed panel shows."""
    store = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    store.ensure_schema()
    rows = []  # 4 tenants x 6 days (across the EUR rate change) x 3 projects x 2 models: lines of 0.4 to 1.2 cents
    for n, (tenant, day, project, model) in enumerate(
            (t, d, p, m) for t in ("acme", "globex", "initech", "hooli") for d in range(1, 7)
            for p in ("atlas", "zephyr", "") for m in ("gpt-4o", "gpt-4o-mini")):
        cost = Decimal("0.004") + Decimal(n % 9) / 1000 + Decimal("0.0005")
        rows.append(dataclasses.replace(BASE_ROW, ts=datetime(2026, 11, day, 9, n % 60, tzinfo=timezone.utc),
                                        tenant_id=tenant, project=project, request_model=model, response_model=model,
                                        span_id=f"{n:016x}", cost_usd=cost, input_cost_usd=cost,
                                        output_cost_usd=Decimal(0)))
    store.insert_usage(rows)
    month = Month.parse("2026-11")
    since, until = month.bounds()
    shown_range = (since, until - timedelta(seconds=1))
    try:
        other_terms = CHARGEBACK.replace('acme: {markup: "0.15", currency: EUR}', 'acme: {markup: "0.3"}')
        for terms_text in (CHARGEBACK, other_terms):
            (tmp_path / "terms.yaml").write_text(terms_text)
            assert store_terms(store, load_chargeback(str(tmp_path / "terms.yaml")))
            terms = stored_terms(store)
            assert terms is not None
            expected = {tenant: statement(store, terms, tenant, month) for tenant in ("acme", "globex", "initech",
                                                                                       "hooli")}
            once_rounded = {tenant: sum((line.billed_usd * line.rate for line in st.lines), Decimal(0)).quantize(
                minor_unit(st.currency)) for tenant, st in expected.items()}
            assert once_rounded != {tenant: st.billed for tenant, st in expected.items()}  # rounding per line shows
            for board in ("llmcost-tenants", "llmcost-chargeback"):
                panel = queries(by_uid(board))["panel 'Tenants: list, effective and billed cost' A"]
                shown = {row["tenant_id"]: row for row in store.query(expand(panel, settings(board), shown_range))}
                assert set(shown) == set(expected), board
                for tenant, st in expected.items():
                    row = shown[tenant]
                    assert (row["currency"], Decimal(row["billed"])) == (st.currency, st.billed), (board, tenant)
                    assert Decimal(row["billed_usd"]) == sum(line.billed_usd for line in st.lines), (board, tenant)
                    assert Decimal(row["effective_cost"]) == st.effective_usd, (board, tenant)
            assert expected["acme"].currency == ("EUR" if terms_text == CHARGEBACK else "USD")
    finally:
        store.close()
