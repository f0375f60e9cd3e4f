"""`otel-llmcost reconcile` and `prices drift` as a user runs them, on an embedded store."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import run_cli
from finops_data import DAYS, ledger

from otel_llmcost.store.chdb_store import ChdbStore

EXPORTS = Path(__file__).parent / "fixtures" / "exports"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("reconcile-cli")
    store = ChdbStore(str(path / "chdb"), "llmcost")
    store.ensure_schema()
    rows = ledger()
    # what OpenRouter-style gateways report on the span: right for Bedrock, 10% high for Anthropic's first call a day
    rows = [dataclasses.replace(row, emitter_cost_usd=row.cost_usd * (Decimal("1.1") if row.provider == "anthropic"
                                                                     and row.ts.hour == 2 else 1))
            if row.provider in ("anthropic", "aws.bedrock") else row for row in rows]
    store.insert_usage(rows)
    store.close()
    return path


def test_reconcile_prints_totals_and_gaps_and_records_each_run(data_dir, tmp_path):
    rows = list(csv.DictReader(io.StringIO((EXPORTS / "azure-costdetails.csv").read_text())))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(row for row in rows if row["Date"] != "11/04/2026")
    (tmp_path / "azure.csv").write_text(out.getvalue())
    expected = sum((row.cost_usd for row in ledger() if row.provider == "azure.ai.openai"
                    and row.ts.date() == DAYS[1]), Decimal(0))

    printed = run_cli("reconcile", "--data-dir", str(data_dir), "--json", str(tmp_path / "azure.csv"),
                      str(EXPORTS / "vertex-billing.ndjson")).stdout
    totals, *gaps = [json.loads(line) for line in printed.splitlines()]
    assert Decimal(totals["ours_over_usd"]) == expected and Decimal(totals["ours_under_usd"]) == 0
    assert totals["sources"] == "azure-cost+gcp-billing" and Decimal(totals["unexplained_usd"]) == 0
    assert [(g["day"], g["provider"], g["model"], Decimal(g["gap_usd"]), g["status"]) for g in gaps] == [
        ("2026-11-04", "azure.ai.openai", "gpt-4o-2024-11-20", -expected, "over")]
    assert gaps[0]["reason"].startswith("day missing from the export")
    recorded = _sql(data_dir, "SELECT status, count() AS n FROM llmcost.reconciliations FINAL GROUP BY status "
                              "ORDER BY status")
    assert recorded == [{"status": "matched", "n": 5}, {"status": "over", "n": 1}]

    text = run_cli("reconcile", "--data-dir", str(data_dir), str(EXPORTS / "azure-costdetails.csv"))
    assert "matched" in text.stdout and "(100.00%)" in text.stdout and "no gap above 0.01 USD" in text.stderr
    recorded = _sql(data_dir, "SELECT status, count() AS n FROM llmcost.reconciliations FINAL GROUP BY status")
    assert recorded == [{"status": "matched", "n": 6}]  # the later run's row of 4 November replaced the gap


def test_prices_drift_lists_models_whose_span_cost_differs(data_dir):
    printed = run_cli("prices", "drift", "--data-dir", str(data_dir), "--since", "2026-11-01", "--until",
                      "2026-12-01", "--json").stdout
    [drift] = [json.loads(line) for line in printed.splitlines()]
    first_calls = [row for row in ledger() if row.provider == "anthropic" and row.ts.hour == 2]
    assert (drift["provider"], drift["model"], drift["calls"], drift["differing_calls"]) == (
        "anthropic", "claude-sonnet-4-5-20250929", 9, 3)
    assert Decimal(drift["difference_usd"]) == sum((row.cost_usd / 10 for row in first_calls), Decimal(0))
    assert len(drift["examples"]) == 3 and {e["span_id"] for e in drift["examples"]} == {
        row.span_id for row in first_calls}
    table = run_cli("prices", "drift", "--data-dir", str(data_dir), "--since", "2026-11-01", "--until",
                    "2026-12-01").stdout
    assert "claude-sonnet-4-5-20250929" in table and "aws.bedrock" not in table


def test_an_unknown_file_is_refused_with_its_name(tmp_path):
    (tmp_path / "bill.csv").write_text("a,b\n1,2\n")
    result = run_cli("reconcile", "--data-dir", str(tmp_path / "d"), "--no-store", str(tmp_path / "bill.csv"),
                     check=False)
    assert result.returncode == 2 and "bill.csv: not a known export" in result.stderr


def _sql(data_dir: Path, query: str) -> list[dict]:
    return [json.loads(line) for line in run_cli("sql", "--data-dir", str(data_dir), query).stdout.splitlines()]
