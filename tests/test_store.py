"""The store on real chDB: DDL and column list agree, and clickhouse-driver's encoding round-trips exactly."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from conftest import run_cli
from otel_llmcost.errors import StoreError
from otel_llmcost.kinds import COST_COLUMNS, COUNTS
from otel_llmcost.model import UsageRow
from otel_llmcost.store.schema import COLUMN_TYPES
from otel_llmcost.store.server_store import ServerStore

BASE_ROW = UsageRow(
    ts=datetime(2026, 11, 1, 12, 30, 15, 123456, tzinfo=timezone.utc), tenant_id="acme", environment="prod",
    service_name="api", feature="summarize", user_id="u1", session_id="s1", request_id="r1", attempt=1,
    trace_id="0af7651916cd43dd8448eb211c80319c", span_id="b7ad6b7169203331", parent_span_id="", span_name="chat x",
    provider="openai", operation="chat", request_model="gpt-4o", response_model="gpt-4o-2024-08-06",
    response_id="chatcmpl-1", **{**dict.fromkeys(COUNTS, 0), "input_tokens": 10, "output_tokens": 5},
    **{**dict.fromkeys(COST_COLUMNS, Decimal(0)), "input_cost_usd": Decimal("0.000025"),
       "output_cost_usd": Decimal("0.00005")},
    cost_usd=Decimal("0.000075"), emitter_cost_usd=None, cost_status="priced", cost_note="",
    price_id="openai/gpt-4o@2024-05-13", price_book_version="v1", price_tier="", price_multiplier=Decimal(1),
    status="ok", error_type="", latency_ms=812.5, ttft_ms=None, streaming=False,
    service_tier="", server_address="api.openai.com", instrumentation="otel-genai:test",
    tags=[], metadata={},
    ingested_at=datetime(2026, 11, 1, 12, 30, 16, 1000, tzinfo=timezone.utc),
)


def test_table_columns_are_the_column_list(store):
    described = store.query("DESCRIBE TABLE llmcost.llm_usage")
    assert [(row["name"], row["type"]) for row in described] == list(COLUMN_TYPES)


def test_clickhouse_driver_encoding_round_trips_exactly(store):
    edge = dataclasses.replace(
        BASE_ROW, span_id="b7ad6b7169203332", tenant_id="müller & 東京 'quoted'", attempt=65535,
        input_tokens=2**64 - 1, cost_usd=None, input_cost_usd=None, output_cost_usd=Decimal("12345678.123456789012"),
        cost_status="unpriced", ttft_ms=123.456, streaming=True, tags=("beta", "ünïcode"),
        metadata={"plan": "pro", "quote'd": "a\\b"}, ts=datetime(2026, 11, 1, 0, 0, 0, 1, tzinfo=timezone.utc),
    )
    store.insert_usage([BASE_ROW, edge])  # one INSERT, Native format written by clickhouse-driver
    rows = store.query(
        "SELECT tenant_id, attempt, input_tokens, cost_usd, input_cost_usd, output_cost_usd, ttft_ms, streaming, tags, "
        "metadata, "
        "toString(ts) AS ts, toString(ingested_at) AS ingested_at FROM llmcost.llm_usage ORDER BY span_id"
    )
    assert rows == [
        {"tenant_id": "acme", "attempt": 1, "input_tokens": 10, "cost_usd": "0.000075", "input_cost_usd": "0.000025",
         "output_cost_usd": "0.00005", "ttft_ms": None, "streaming": False, "tags": [], "metadata": {},
         "ts": "2026-11-01 12:30:15.123456", "ingested_at": "2026-11-01 12:30:16.001"},
        {"tenant_id": "müller & 東京 'quoted'", "attempt": 65535, "input_tokens": 2**64 - 1, "cost_usd": None,
         "input_cost_usd": None, "output_cost_usd": "12345678.123456789012", "ttft_ms": 123.456, "streaming": True,
         "tags": ["beta", "ünïcode"], "metadata": {"plan": "pro", "quote'd": "a\\b"},
         "ts": "2026-11-01 00:00:00.000001", "ingested_at": "2026-11-01 12:30:16.001"},
    ]
    total = store.query("SELECT sum(cost_usd) AS total FROM llmcost.llm_usage")
    assert total == [{"total": "0.000075"}]


def test_query_parameters_bind_string_arrays(store):
    store.insert_usage([BASE_ROW])
    found = store.query(
        "SELECT span_id FROM llmcost.llm_usage WHERE trace_id IN {ids:Array(String)}",
        {"ids": [BASE_ROW.trace_id, "it's-quoted"]},
    )
    assert found == [{"span_id": BASE_ROW.span_id}]


def test_unreachable_server_is_a_one_line_store_error():
    with pytest.raises(StoreError, match="ClickHouse server"):
        ServerStore("clickhouse://default:@127.0.0.1:1/llmcost", "llmcost")
    result = run_cli("sql", "--clickhouse", "clickhouse://127.0.0.1:1/llmcost", "SELECT 1", check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("otel-llmcost sql: error: ClickHouse server:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_server_errors_keep_their_message_and_a_missing_database_is_created():
    from clickhouse_driver.errors import ServerException
    from clickhouse_driver.util.helpers import parse_url

    from otel_llmcost.store.server_store import database_bootstrap, one_line

    error = ServerException("DB::Exception: Database llmcost does not exist. Stack trace:\n\n0. DB::f()", code=81)
    assert one_line(error) == "Code: 81. DB::Exception: Database llmcost does not exist"
    _, options = parse_url("clickhouse://ingest:secret@db.example:9000/llmcost")
    bootstrap, statement = database_bootstrap(options, "llmcost")
    assert bootstrap == {"port": 9000, "user": "ingest", "password": "secret"}
    assert statement.splitlines()[-1] == "CREATE DATABASE IF NOT EXISTS llmcost"  # after a comment line
