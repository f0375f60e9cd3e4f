"""Reconciliation: five providers' exports of the stored calls match to the cent; altered exports (a day
missing, a price change, unpriced calls, a discount) are each named with their day, model and amount."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from finops_data import DAYS, ledger

from otel_llmcost.reports.exports import read_export
from otel_llmcost.reports.reconcile import reconcile
from otel_llmcost.store.chdb_store import ChdbStore

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
ONE_PROVIDER_EACH = {
    "openai": ["openai-usage.json", "openai-costs.json"],
    "anthropic": ["anthropic-usage.json", "anthropic-costs.json"],
    "aws.bedrock": ["bedrock-cur2.csv"],
    "gcp.vertex_ai": ["vertex-billing.ndjson"],
    "azure.ai.openai": ["azure-costdetails.csv"],
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("reconcile")
    store = ChdbStore(str(path / "chdb"), "llmcost")
    store.ensure_schema()
    store.insert_usage(ledger())
    yield path, store
    store.close()


def lines_of(*names: str, text: dict[str, str] | None = None, tmp: Path | None = None):
    found = []
    for name in names:
        path = EXPORTS / name
        if text and name in text:
            path = tmp / name
            path.write_text(text[name])
        found += read_export(path)
    return found


def our_cost(provider: str, day: date | None = None) -> Decimal:
    return sum((row.cost_usd for row in ledger() if row.provider == provider and (day is None or row.ts.date() == day)),
               Decimal(0))


@pytest.mark.parametrize("provider", sorted(ONE_PROVIDER_EACH))
def test_each_providers_export_of_the_stored_calls_leaves_no_residual(data_dir, provider):
    _, store = data_dir
    result = reconcile(store, lines_of(*ONE_PROVIDER_EACH[provider]))
    assert result.billed_usd == result.ours_usd == our_cost(provider) > 1
    assert (result.over_usd, result.under_usd, result.matched_pct) == (0, 0, 100)
    assert result.gaps() == [] and {g.provider for g in result.groups} == {provider}
    assert len(result.groups) == len(DAYS)  # one model a day: the export's names and ours were matched


def test_usage_report_alone_is_matched_by_tokens(data_dir):
    _, store = data_dir
    result = reconcile(store, lines_of("anthropic-usage.json"))
    assert result.gaps() == [] and result.billed_usd == our_cost("anthropic")


def test_a_day_missing_from_the_export_and_a_day_missing_from_our_calls(data_dir, tmp_path):
    _, store = data_dir
    rows = rows_of("bedrock-cur2.csv")
    kept = [row for row in rows if not row["line_item_usage_start_date"].startswith("2026-11-04")]
    extra = [dict(row, line_item_usage_start_date="2026-11-06T00:00:00Z", line_item_usage_end_date="2026-11-07T00:00:00Z")
             for row in rows if row["line_item_usage_start_date"].startswith("2026-11-05")]
    result = reconcile(store, lines_of("bedrock-cur2.csv", text={"bedrock-cur2.csv": _csv(kept + extra)}, tmp=tmp_path))

    gaps = result.gaps()
    assert [(g.day, g.model, g.gap_usd) for g in gaps] == sorted([
        (date(2026, 11, 4), "us.anthropic.claude-sonnet-4-5-20250929-v1:0", -our_cost("aws.bedrock", DAYS[1])),
        (date(2026, 11, 6), "Claude Sonnet 4.5", our_cost("aws.bedrock", DAYS[2])),
    ], key=lambda gap: -abs(gap[2]))
    reasons = {g.day: g.reason for g in gaps}
    assert reasons[date(2026, 11, 4)].startswith("day missing from the export")
    assert reasons[date(2026, 11, 6)].startswith("calls missing from instrumentation")
    assert result.under_usd == our_cost("aws.bedrock", DAYS[2]) and result.over_usd == our_cost("aws.bedrock", DAYS[1])


def test_a_price_change_is_named_with_the_kind_and_both_rates(data_dir, tmp_path):
    _, store = data_dir
    rows = [json.loads(line) for line in (EXPORTS / "vertex-billing.ndjson").read_text().splitlines()]
    changed = None
    for row in rows:
        if row["usage_start_time"].startswith("2026-11-05") and "Output" in row["sku"]["description"]:
            changed = Decimal(str(row["cost"]))
            row["cost"] = str(changed * Decimal("1.2"))  # 2.5 -> 3 USD per 1M output tokens
    text = "\n".join(json.dumps(row) for row in rows)
    result = reconcile(store, lines_of("vertex-billing.ndjson", text={"vertex-billing.ndjson": text}, tmp=tmp_path))

    [gap] = result.gaps()
    assert (gap.day, gap.model, gap.gap_usd) == (date(2026, 11, 5), "Gemini 2.5 Flash", changed * Decimal("0.2"))
    assert gap.reason == "price change: output billed at 3 USD per 1M tokens, the book has 2.5"
    assert result.unexplained_usd == 0


def test_a_discount_line_and_a_batch_tier_are_named(data_dir, tmp_path):
    _, store = data_dir
    rows = rows_of("bedrock-cur2.csv")
    credit = dict(rows[0], line_item_line_item_type="EdpDiscount", line_item_usage_start_date="2026-11-04T00:00:00Z",
                  line_item_unblended_cost="-1.25", line_item_usage_amount="0")
    bedrock = reconcile(store, lines_of("bedrock-cur2.csv", text={"bedrock-cur2.csv": _csv(rows + [credit])},
                                        tmp=tmp_path))
    [gap] = bedrock.gaps()
    assert (gap.day, gap.model, gap.gap_usd) == (date(2026, 11, 4), "Claude Sonnet 4.5", Decimal("-1.25"))
    assert gap.reason == "discount or credit in the export (EdpDiscount): -1.25 USD"

    costs = json.loads((EXPORTS / "anthropic-costs.json").read_text())
    for result in costs["data"][0]["results"]:  # 3 November billed at the Batch API's half price
        result["amount"], result["service_tier"] = str(Decimal(result["amount"]) / 2), "batch"
    anthropic = reconcile(store, lines_of("anthropic-costs.json", text={"anthropic-costs.json": json.dumps(costs)},
                                          tmp=tmp_path))
    [gap] = anthropic.gaps()
    assert (gap.day, gap.model, gap.gap_usd) == (date(2026, 11, 3), "claude-sonnet-4-5-20250929",
                                                 -our_cost("anthropic", DAYS[0]) / 2)
    assert gap.reason == "batch or tier discount (batch): 50.0% off every kind, not in the price book"


def test_unpriced_calls_are_named(data_dir, tmp_path):
    _, store = data_dir
    book_row = next(row for row in ledger() if row.provider == "azure.ai.openai" and row.ts.date() == DAYS[2])
    # 5 November: two calls of a Mistral model the book does not price, billed in Mistral's FOCUS export
    calls = [dataclasses.replace(book_row, provider="mistral_ai", request_model="mistral-medium-2611",
                                 response_model="mistral-medium-2611", span_id=f"{n:016x}", cost_usd=None,
                                 input_cost_usd=None, cache_read_cost_usd=None, output_cost_usd=None,
                                 cost_status="unpriced", price_id="") for n in (1, 2)]
    store.insert_usage(calls)
    bill = [{"ChargePeriodStart": "2026-11-05T00:00:00Z", "ChargePeriodEnd": "2026-11-06T00:00:00Z",
             "ChargeCategory": "Usage", "BilledCost": cost, "BillingCurrency": "USD", "ServiceProviderName": "Mistral AI",
             "SkuMeter": meter, "ConsumedQuantity": str(tokens), "SkuPriceDetails": '{"x_ModelId": "mistral-medium-2611"}',
             "PricingCategory": "Standard"}
            for meter, tokens, cost in (("Input Tokens", 2 * (book_row.input_tokens - book_row.cache_read_tokens), "0.12"),
                                        ("Cache Read Input Tokens", 2 * book_row.cache_read_tokens, "0.01"),
                                        ("Output Tokens", 2 * book_row.output_tokens, "0.13"))]
    (tmp_path / "mistral-focus.csv").write_text(_csv(bill))
    result = reconcile(store, read_export(tmp_path / "mistral-focus.csv"))
    [gap] = result.gaps()
    assert (gap.day, gap.model, gap.gap_usd, gap.unpriced_calls) == (DAYS[2], "mistral-medium-2611", Decimal("0.26"), 2)
    assert gap.reason == "2 unpriced calls: the price book has no price for this model (see `prices coverage`)"


def rows_of(name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO((EXPORTS / name).read_text())))


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
