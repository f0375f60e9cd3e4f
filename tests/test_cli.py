"""The command line on real chDB data: stats, read-only sql, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from conftest import run_cli
from otel_llmcost.store.chdb_store import ChdbStore
from payloads import llm_span, post, request
from test_store import BASE_ROW


def _seed(data_dir, rows) -> None:
    store = ChdbStore(str(data_dir / "chdb"), "llmcost")
    store.ensure_schema()
    store.insert_usage(rows)
    store.close()


def _rows_two_features():
    now = datetime.now(timezone.utc)
    make = dataclasses.replace
    return [
        make(BASE_ROW, ts=now - timedelta(hours=1), span_id="1" * 16, feature="summarize", request_id="r1",
             input_tokens=100, output_tokens=10, cost_usd=Decimal("0.001"), latency_ms=100.0),
        make(BASE_ROW, ts=now - timedelta(hours=1), span_id="2" * 16, feature="summarize", request_id="r1",
             attempt=2, status="error", error_type="RateLimitError", input_tokens=0, output_tokens=0,
             cost_usd=Decimal("0"), latency_ms=300.0),
        make(BASE_ROW, ts=now - timedelta(hours=2), span_id="3" * 16, feature="search", request_id="r2",
             input_tokens=50, cache_read_tokens=20, output_tokens=5, cost_usd=None, cost_status="unpriced",
             latency_ms=50.0),
        make(BASE_ROW, ts=now - timedelta(days=40), span_id="4" * 16, feature="search", request_id="r3",
             input_tokens=1, output_tokens=1, cost_usd=Decimal("5")),  # outside the default 30 days
    ]


def test_stats_by_feature(tmp_path):
    _seed(tmp_path, _rows_two_features())
    out = run_cli("stats", "--data-dir", str(tmp_path), "--by", "feature", "--json").stdout
    rows = {row["feature"]: row for row in map(json.loads, out.splitlines())}
    assert rows["summarize"] == {
        "feature": "summarize", "requests": 1, "calls": 2, "failures": 1, "input_tokens": 100,
        "cache_read_tokens": 0, "cache_write_tokens": 0, "output_tokens": 10, "reasoning_tokens": 0,
        "list_cost_usd": "0.001", "cost_usd": "0.001", "billed_usd": "0.001", "unpriced_calls": 0,
        "avg_latency_ms": 200,
    }
    assert rows["search"]["calls"] == 1 and rows["search"]["cost_usd"] is None
    assert rows["search"]["unpriced_calls"] == 1 and rows["search"]["cache_read_tokens"] == 20

    everything = run_cli("stats", "--data-dir", str(tmp_path), "--since", "90d", "--json").stdout
    [total] = map(json.loads, everything.splitlines())
    assert (total["calls"], total["requests"], Decimal(total["cost_usd"])) == (4, 3, Decimal("5.001"))

    table = run_cli("stats", "--data-dir", str(tmp_path), "--by", "tenant").stdout
    # the effective cost first, then the list and billed costs, then the counts
    assert table.splitlines()[0].split()[:6] == ["tenant", "cost_usd", "list_cost_usd", "billed_usd", "requests",
                                                 "calls"]
    assert table.splitlines()[1].split()[:6] == ["acme", "$0.0010", "$0.0010", "$0.0010", "2", "3"]
    assert max(map(len, table.splitlines())) <= 100
    wide = run_cli("stats", "--data-dir", str(tmp_path), "--by", "tenant", "--wide")
    assert wide.stdout.splitlines()[0].split()[-1] == "latency_ms" and "more columns" not in wide.stderr


def test_sql_is_read_only(tmp_path):
    _seed(tmp_path, _rows_two_features()[:1])
    result = run_cli("sql", "--data-dir", str(tmp_path), "DROP TABLE llmcost.llm_usage", check=False)
    assert result.returncode == 2
    assert "readonly" in result.stderr.lower()
    assert run_cli(
        "sql", "--data-dir", str(tmp_path), "SELECT count() AS n FROM llmcost.llm_usage").stdout == '{"n": 1}\n'


def test_clear_one_line_errors(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("receiver: [unclosed\n")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("receiver:\n  grpc_port: 70000\n  http_prot: 1\nstore:\n  flush_interval_seconds: fast\n")
    cases = {
        ("serve", "--config", str(tmp_path / "missing.yaml")): "cannot read config file",
        ("serve", "--config", str(bad_yaml)): "is not valid YAML",
        ("stats", "--since", "yesterday", "--data-dir", str(tmp_path)): "--since 'yesterday'",
        ("serve", "--clickhouse", "http://nope"): "store.clickhouse must look like",
    }
    for args, message in cases.items():
        result = run_cli(*args, check=False)
        assert result.returncode == 2, args
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    # Every problem in a config file is reported at once.
    result = run_cli("serve", "--config", str(wrong), check=False)
    assert result.returncode == 2
    for problem in ("receiver.grpc_port must be between", "unknown key receiver.http_prot",
                    "store.flush_interval_seconds must be a number"):
        assert problem in result.stderr
    assert run_cli("stats", "--by", "colour", check=False).returncode == 2  # argparse: usage + exit 2


def test_sql_and_stats_while_the_receiver_runs(receiver_factory):
    receiver = receiver_factory()
    body = request(llm_span(os.urandom(16), "gpt-4o-mini", 1_000_000, 0)).SerializeToString()
    assert post(receiver.http_url, body, "application/x-protobuf")[0] == 200
    data_dir = str(receiver.data_dir)
    rows = []
    for _ in range(50):  # the trace is written within a flush interval or two
        out = run_cli("sql", "--data-dir", data_dir, "SELECT cost_usd FROM llmcost.llm_usage").stdout
        rows = [json.loads(line) for line in out.splitlines()]
        if rows:
            break
    assert rows == [{"cost_usd": "0.15"}]
    stats = json.loads(run_cli("stats", "--data-dir", data_dir, "--json").stdout)
    assert (stats["calls"], stats["cost_usd"]) == (1, "0.15")
    refused = run_cli("sql", "--data-dir", data_dir, "INSERT INTO llmcost.llm_usage (tenant_id) VALUES ('x')",
                      check=False)
    assert refused.returncode == 2 and "readonly" in refused.stderr.lower()
    receiver.stop()
    assert not (receiver.data_dir / "receiver.json").exists()


def test_a_store_held_by_another_process_is_one_clean_line(tmp_path):
    """chDB prints its own "Code: 76 ... Cannot lock file" line before raising: held back, one line is left."""
    held = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    held.ensure_schema()
    try:
        for command in ("stats", "migrate", "why"):
            result = run_cli(command, "--data-dir", str(tmp_path), check=False)
            assert result.returncode == 2
            [line] = result.stderr.splitlines()
            assert line.startswith(f"otel-llmcost {command}: error: cannot open the embedded store at ")
            assert "Code:" not in line and "another process" in line
    finally:
        held.close()
    empty = run_cli("why", "--data-dir", str(tmp_path))
    assert empty.stdout == "" and empty.stderr.startswith("no LLM calls from ")


def test_without_chdb_the_embedded_store_names_its_extra(tmp_path):
    """chDB is the `embedded` extra: without it, `serve` and `sql` on the embedded store say what to install
    (one line, exit 2), and `serve` leaves no data directory behind. chDB is made unimportable, as in an
    install without the extra."""
    seeded = tmp_path / "seeded"
    _seed(seeded, _rows_two_features())
    for data_dir, args in ((tmp_path / "new", ["serve", "--grpc-port", "0", "--http-port", "0", "--query-port", "0"]),
                           (seeded, ["sql", "SELECT 1"])):
        program = ("import sys; sys.modules['chdb'] = None\n"
                   "from otel_llmcost.cli import main\n"
                   f"sys.exit(main({[args[0], '--data-dir', str(data_dir), *args[1:]]!r}))")
        result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith(f"otel-llmcost {args[0]}: error: the embedded store needs chDB"), result.stderr
        assert "pip install 'otel-llmcost[embedded]'" in lines[-1]
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "new").exists()
