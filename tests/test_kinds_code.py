"""kinds.py is the one table of billable kinds: the classes' per-kind fields are generated from it (and checked
here), the bill lines derive from it, and adding a kind is one row, its dialect names and one command.

The proof runs on a copy of the package: a kind is added there as one row, `scripts/kinds_migration.py`
writes the fields and the migration, and the copy's own receiver, CLI and mypy then know the new kind.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from scripts import kinds_code

from conftest import run_cli
from otel_llmcost.kinds import COST_COLUMNS, KINDS
from otel_llmcost.reports.billed_kinds import BILLED_KINDS

ROOT = Path(__file__).resolve().parents[1]
NEW_KIND = """    Kind("per_code_session", "code_sessions", "code_fee_usd", "session", 1, count_type=_UNITS,
         attributes=("llmcost.usage.code_sessions",), billed="code_session", meter="Code Interpreter Sessions"),
"""
PRICE_BOOK = """
version: new-kind
prices:
  - provider: openai
    models: [gpt-4.1]
    effective_from: 2025-01-01
    input: "2"
    output: "8"
    per_code_session: "0.03"
"""


def test_the_generated_fields_are_what_kinds_py_gives():
    stale = kinds_code.stale()
    assert not stale, f"{sorted(map(str, stale))}: run python scripts/kinds_code.py"


def test_bill_lines_cover_every_cost_once():
    """Every cost column is on exactly one bill line, so the lines' costs add up to cost_usd."""
    on_lines = [cost.removeprefix("u.") for kind in BILLED_KINDS for cost in kind.cost.split(" + ")]
    assert sorted(on_lines) == sorted(COST_COLUMNS)
    assert {kind.name for kind in BILLED_KINDS} == {kind.billed for kind in KINDS}


def _copy_of_the_package(root: Path) -> Path:
    """src/otel_llmcost, clickhouse/ (as the package's ddl, as installed) and scripts/ under `root`."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "src" / "otel_llmcost", root / "src" / "otel_llmcost", ignore=ignore)
    shutil.copytree(ROOT / "clickhouse", root / "clickhouse", ignore=ignore)
    shutil.copytree(ROOT / "scripts", root / "scripts", ignore=ignore)
    (root / "src" / "otel_llmcost" / "ddl").symlink_to(root / "clickhouse")
    return root


def _changed(root: Path) -> set[str]:
    """Files of the copy that differ from the repository's, or that it alone has."""
    changed = set()
    for top in ("src/otel_llmcost", "clickhouse"):
        for path in (root / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and "ddl" not in path.parts:
                original = ROOT / path.relative_to(root)
                if not original.exists() or not filecmp.cmp(path, original, shallow=False):
                    changed.add(str(path.relative_to(root)))
    return changed


def test_a_new_kind_is_one_row_and_one_command(tmp_path, receiver_factory, monkeypatch):
    copy = _copy_of_the_package(tmp_path / "copy")
    kinds = copy / "src" / "otel_llmcost" / "kinds.py"
    text = kinds.read_text(encoding="utf-8")
    end = text.index("\n)\nBY_RATE")
    kinds.write_text(text[:end + 1] + NEW_KIND + text[end + 1:], encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{copy / 'src'}"}
    made = subprocess.run([sys.executable, "scripts/kinds_migration.py", "99", "code_sessions"], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr

    # The row, the rewritten per-kind fields and the migration: nothing else changed.
    assert _changed(copy) == {"src/otel_llmcost/kinds.py", "src/otel_llmcost/model.py",
                              "src/otel_llmcost/pricing/book.py", "src/otel_llmcost/semconv/fields.py",
                              "clickhouse/migrations/099_code_sessions.sql"}
    migration = (copy / "clickhouse" / "migrations" / "099_code_sessions.sql").read_text()
    assert "ADD COLUMN IF NOT EXISTS code_sessions UInt32" in migration
    assert "ADD COLUMN IF NOT EXISTS code_fee_usd" in migration

    # mypy sees the new fields as what they are.
    probe = copy / "probe.py"
    probe.write_text("from otel_llmcost.model import LlmCall, UsageRow\n"
                     "def sessions(call: LlmCall) -> int:\n    return call.code_sessions\n"
                     "def fee(row: UsageRow) -> str:\n    return row.code_fee_usd\n")
    typed = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
                            "--python-version", "3.10", str(probe)], cwd=copy, env=env, capture_output=True,
                           text=True, timeout=300)
    assert typed.stdout.count("error:") == 1, typed.stdout
    assert 'probe.py:5: error: Incompatible return value type (got "Decimal | None", expected "str")' in typed.stdout

    # The copy's receiver reads the count from a span, prices it, stores and rolls it up; the bill lines and
    # the quote CLI have it.
    monkeypatch.setenv("PYTHONPATH", str(copy / "src"))
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICE_BOOK)
    receiver = receiver_factory({"pricing": {"price_books": [str(prices)]}})
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.http_url)))
    with provider.get_tracer("app").start_as_current_span("chat gpt-4.1", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4.1",
            "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100,
            "llmcost.usage.code_sessions": 3}):
        pass
    provider.shutdown()
    receiver.stop()
    [row] = receiver.sql("SELECT code_sessions, code_fee_usd, cost_usd, cost_status FROM llmcost.llm_usage")
    assert (row["code_sessions"], Decimal(row["code_fee_usd"]), row["cost_status"]) == (3, Decimal("0.09"), "priced")
    assert Decimal(row["cost_usd"]) == Decimal("0.002") + Decimal("0.0008") + Decimal("0.09")
    [hourly] = receiver.sql("SELECT sum(code_sessions) AS sessions FROM llmcost.usage_hourly")
    assert hourly == {"sessions": 3}
    billed = subprocess.run([sys.executable, "-c", "from otel_llmcost.reports.billed_kinds import BILLED_KINDS\n"
                             "print([(k.name, k.meter, k.quantity, k.cost) for k in BILLED_KINDS][-1])"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert billed.stdout.strip() == str(("code_session", "Code Interpreter Sessions", "u.code_sessions",
                                         "u.code_fee_usd")), billed.stderr
    config = tmp_path / "config.yaml"
    config.write_text(f"pricing:\n  price_books: [{prices}]\n")
    quote = json.loads(run_cli("prices", "quote", "--data-dir", str(tmp_path / "quote"), "--config", str(config),
                               "--provider", "openai", "--model", "gpt-4.1", "--code-sessions", "2",
                               "--at", "2026-01-01").stdout)
    assert (quote["code_sessions"], Decimal(quote["code_fee_usd"])) == (2, Decimal("0.06"))

    # `why` has its own share: twice the sessions per call at the same price is usage per call, not a price
    # change (as it would be if its cost were left to the per-call fee).
    why = subprocess.run([sys.executable, "-c", "from test_why import unit_causes\n"
                          "print(unit_causes('code_sessions', 'code_fee_usd', (10, 20), ('0.03', '0.03')))"],
                         env={**env, "PYTHONPATH": f"{copy / 'src'}{os.pathsep}{ROOT / 'tests'}"},
                         capture_output=True, text=True, timeout=60)
    assert why.stdout.strip() == str({"completion": Decimal("0.300000000000")}), why.stderr  # 12 decimals
