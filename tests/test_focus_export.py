"""`otel-llmcost export focus`: every row and column conforms to FOCUS 1.3, the costs add up to the stored
calls' to the last digit, and the file reconciles with the store as a bill would."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from conftest import run_cli
from finops_data import ledger, with_contract_discount
from focus_spec import MANDATORY, violations
from otel_llmcost.reports.exports import read_export
from otel_llmcost.reports.focus import COLUMN_NAMES
from otel_llmcost.store.chdb_store import ChdbStore


def stored_rows():
    rows = ledger()
    contract = with_contract_discount(rows, "initech", Decimal("0.8"))
    unpriced = dataclasses.replace(rows[0], span_id="f" * 16, provider="self-hosted", request_model="llama-local",
                                   response_model="", cost_usd=None, input_cost_usd=None, output_cost_usd=None,
                                   cache_read_cost_usd=None, cost_status="unpriced")
    december = dataclasses.replace(rows[1], span_id="e" * 16, ts=datetime(2026, 12, 1, tzinfo=timezone.utc))
    projects = [dataclasses.replace(row, project="atlas") if row.tenant_id == "acme" and n % 2 else row
                for n, row in enumerate(contract)]  # half of acme's calls are of a project
    return projects + [unpriced, december]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("focus")
    store = ChdbStore(str(path / "chdb"), "llmcost")
    store.ensure_schema()
    store.insert_usage(stored_rows())
    store.close()
    return path


def export(data_dir, out, *flags: str) -> list[dict]:
    printed = run_cli("export", "focus", "--data-dir", str(data_dir), "--month", "2026-11", "--output", str(out),
                      *flags).stdout
    assert printed.startswith(f"{out}: ") and "FOCUS 1.3" in printed
    return list(csv.DictReader(io.StringIO(out.read_text()))) if out.suffix == ".csv" else []


def test_csv_export_conforms_to_focus_and_adds_up_to_the_calls(data_dir, tmp_path):
    rows = export(data_dir, tmp_path / "focus.csv")
    header = next(csv.reader(io.StringIO((tmp_path / "focus.csv").read_text())))
    assert violations(header, rows) == []
    assert set(MANDATORY) <= set(header)
    november = [row for row in stored_rows() if row.ts.month == 11]
    assert sum(Decimal(row["BilledCost"]) for row in rows) == sum(r.cost_usd or 0 for r in november)
    assert sum(Decimal(row["ListCost"]) for row in rows) == sum(
        (r.cost_usd or 0) / r.price_multiplier for r in november)
    tokens = sum(Decimal(row["ConsumedQuantity"]) for row in rows if row["ConsumedUnit"] == "Tokens")
    assert tokens == sum(r.input_tokens + r.output_tokens for r in november)
    # one row per day x tenant x environment x project x feature x provider x model x kind
    keys = [(r["ChargePeriodStart"], r["SubAccountId"], r["Tags"], r["x_Provider"], r["x_Model"], r["SkuMeter"])
            for r in rows]
    assert len(keys) == len(set(keys))
    bedrock = next(r for r in rows if r["x_Provider"] == "aws.bedrock" and r["SkuMeter"] == "Cache Write Input Tokens")
    assert (bedrock["ServiceName"], bedrock["ServiceProviderName"], bedrock["HostProviderName"],
            bedrock["ConsumedUnit"], bedrock["PricingUnit"]) == (
        "Amazon Bedrock", "Amazon Web Services", "Amazon Web Services", "Tokens", "1000000 Tokens")
    assert Decimal(bedrock["PricingQuantity"]) * 1_000_000 == Decimal(bedrock["ConsumedQuantity"])
    assert json.loads(bedrock["Tags"]) == {"tenant": "globex", "feature": "triage", "environment": "prod"}
    acme = [r for r in rows if r["SubAccountId"] == "acme"]
    assert {json.loads(r["Tags"]).get("project") for r in acme} == {"atlas", None}
    assert sum(Decimal(r["BilledCost"]) for r in acme if "project" in json.loads(r["Tags"])) == sum(
        r.cost_usd for r in november if r.project == "atlas")
    initech = [r for r in rows if r["SubAccountId"] == "initech"]
    assert all(Decimal(r["ListCost"]) * Decimal("0.8") == Decimal(r["EffectiveCost"]) for r in initech)
    [local] = [r for r in rows if r["x_Provider"] == "self-hosted" and r["SkuMeter"] == "Input Tokens"]
    assert (local["BilledCost"], local["x_UnpricedCalls"]) == ("0", "1")
    meta = json.loads((tmp_path / "focus.csv.metadata.json").read_text())
    assert meta["FocusVersion"] == "1.3" and meta["DataGenerator"]["DataGenerator"].startswith("otel-llmcost")


def test_a_tenants_export_reconciles_with_the_store_as_its_bill(data_dir, tmp_path):
    rows = export(data_dir, tmp_path / "acme.csv", "--tenant", "acme")
    assert {row["SubAccountId"] for row in rows} == {"acme"}
    lines = read_export(tmp_path / "acme.csv")
    assert {line.provider for line in lines} == {"openai", "anthropic", "self-hosted"}
    printed = run_cli("reconcile", "--data-dir", str(data_dir), "--no-store", "--json", "--account", "acme=acme",
                      str(tmp_path / "acme.csv")).stdout
    totals, *gaps = [json.loads(line) for line in printed.splitlines()]
    assert gaps == [] and Decimal(totals["ours_over_usd"]) == Decimal(totals["ours_under_usd"]) == 0
    assert totals["matched_pct"] == "100.00"


def test_parquet_export_has_the_same_rows_typed(data_dir, tmp_path):
    csv_rows = export(data_dir, tmp_path / "focus.csv")
    export(data_dir, tmp_path / "focus.parquet", "--format", "parquet")
    store = ChdbStore(str(data_dir / "chdb"), "llmcost")
    try:
        described = store.query(f"DESCRIBE file('{tmp_path / 'focus.parquet'}', Parquet)")
        read = store.query(f"SELECT sum(BilledCost) AS billed, count() AS n, "
                           f"countIf(ChargeClass IS NULL) AS null_classes, min(ChargePeriodStart) AS first "
                           f"FROM file('{tmp_path / 'focus.parquet'}', Parquet)")
    finally:
        store.close()
    types = {row["name"]: row["type"] for row in described}
    assert list(types) == list(COLUMN_NAMES)
    assert types["BilledCost"].startswith("Decimal(38, 12)") or "Decimal(38, 12)" in types["BilledCost"]
    assert "DateTime" in types["ChargePeriodStart"] and "String" in types["ChargeClass"]
    assert read[0]["n"] == len(csv_rows) == read[0]["null_classes"]
    assert Decimal(read[0]["billed"]) == sum(Decimal(row["BilledCost"]) for row in csv_rows)
    assert read[0]["first"].startswith("2026-11-03 00:00:00")


def test_the_focus_check_finds_what_the_specification_forbids():
    good = {"BilledCost": "1.5", "ChargePeriodStart": "2026-11-03T00:00:00Z", "ChargePeriodEnd": "2026-11-04T00:00:00Z",
            "BillingPeriodStart": "2026-11-01T00:00:00Z", "BillingPeriodEnd": "2026-12-01T00:00:00Z",
            "ChargeCategory": "Usage", "BillingCurrency": "USD", "PricingQuantity": "1",
            "PricingUnit": "1000000 Tokens",
            "ConsumedQuantity": "1000000", "ConsumedUnit": "Tokens", "ListUnitPrice": "1.5", "ListCost": "1.5",
            "Tags": '{"tenant": "acme"}'}
    assert [v for v in violations(list(good), [good]) if v.startswith("row")] == []
    broken = dict(good, BilledCost="$1.50", ChargePeriodEnd="2026-11-03", ChargeCategory="Spend", ConsumedUnit="",
                  ListCost="2", Tags='{"tenant": {"id": "acme"}}', Region="us")
    found = violations([*good, "Region"], [broken])
    for expected in ("BilledCost '$1.50' is not a plain number", "ChargePeriodEnd '2026-11-03' is not",
                     "ChargeCategory 'Spend' not allowed", "ConsumedUnit must be null exactly when",
                     "ListUnitPrice x PricingQuantity != ListCost", "Tags['tenant'] is not a string",
                     "custom column Region is not prefixed x_", "missing mandatory column EffectiveCost"):
        assert any(expected in line for line in found), (expected, found)
