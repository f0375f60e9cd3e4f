"""The store contract (store/__init__.py): what the flusher needs (WritableStore), what readers need
(QueryableStore), and the whole UsageStore, kept by both implementations.

The chDB store runs here always. The server store runs the same tests when OTEL_LLMCOST_TEST_CLICKHOUSE
names a ClickHouse server (24.1 or later), e.g.

    export OTEL_LLMCOST_TEST_CLICKHOUSE=clickhouse://default:@127.0.0.1:9000
    .venv/bin/python -m pytest tests/test_store_contract.py

each test in a database of its own, dropped afterwards. No server installs on this machine, so here it is
skipped, saying so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from otel_llmcost.errors import StoreError
from otel_llmcost.flush.writer import BatchWriter
from otel_llmcost.rows import deadletter
from otel_llmcost.rows.traces import COLUMN_TYPES as TRACE_COLUMN_TYPES
from otel_llmcost.store import QueryableStore, UsageStore, WritableStore
from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.migrations import SchemaOptions
from otel_llmcost.store.server_store import ServerStore
from test_store import BASE_ROW

SERVER_ENV = "OTEL_LLMCOST_TEST_CLICKHOUSE"


def _open_chdb(tmp_path, read_only: bool = False) -> ChdbStore:
    return ChdbStore(str(tmp_path / "chdb"), "llmcost", read_only)


@pytest.fixture(params=["chdb", "server"])
def opener(request, tmp_path):
    """A function opening the store under test (read_only=...), its schema applied once."""
    if request.param == "chdb":
        first = _open_chdb(tmp_path)
        first.ensure_schema()
        first.close()
        yield lambda read_only=False: _open_chdb(tmp_path, read_only)
        return
    with server_database("llmcost_contract") as (url, database, _):
        yield lambda read_only=False: ServerStore(url, database, read_only)


@contextlib.contextmanager
def server_database(prefix: str) -> Iterator[tuple[str, str, ServerStore]]:
    """(server URL, database, a store on it) of a migrated database of its own on the server SERVER_ENV names,
    dropped afterwards; skips the test when no server is named."""
    url = os.environ.get(SERVER_ENV)
    if not url:
        pytest.skip(f"no ClickHouse server here: set {SERVER_ENV}=clickhouse://... to run this on one")
    database = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = ServerStore(url, database)
    admin.ensure_schema(SchemaOptions(database))
    try:
        yield url, database, admin
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {database}")
        admin.close()


@pytest.fixture
def store(opener):
    opened = opener()
    yield opened
    opened.close()


def _rows(count: int) -> list:
    return [dataclasses.replace(BASE_ROW, span_id=f"{index:016x}", cost_usd=Decimal("0.000000000001") * (index + 1))
            for index in range(count)]


def _count(store, table: str = "llm_usage") -> int:
    return int(store.query(f"SELECT count() AS n FROM {store.database}.{table}")[0]["n"])


def test_it_is_each_protocol(store):
    assert isinstance(store, UsageStore) and isinstance(store, WritableStore) and isinstance(store, QueryableStore)
    store.ensure_schema(SchemaOptions(store.database))  # applied already: nothing to do, no error


def test_usage_rows_round_trip_exactly_and_a_repeated_batch_is_stored_once(store):
    rows = _rows(3)
    store.insert_usage(rows)
    store.insert_usage(list(reversed(rows)))  # a retry, in another order: same calls, same token
    found = store.query(f"SELECT span_id, cost_usd, toString(ts) AS ts FROM {store.database}.llm_usage"
                        " ORDER BY span_id")
    assert found == [{"span_id": row.span_id, "cost_usd": format(row.cost_usd, "f"),
                      "ts": "2026-11-01 12:30:15.123456"} for row in rows]


def test_trace_spans_are_stored_once(store):
    columns = [[value] for value in (
        datetime(2026, 11, 1, 12, 30, tzinfo=timezone.utc), "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331",
        "", "", "chat", "Client", "api", {"service.name": "api"}, "scope", "1", {"gen_ai.request.model": "gpt-4o"},
        1_000_000, "Ok", "")]
    assert len(columns) == len(TRACE_COLUMN_TYPES)
    store.insert_traces(columns)
    store.insert_traces(columns)
    assert _count(store, "otel_traces") == 1


def test_the_flushers_writes_leave_out_what_is_stored_and_keep_dead_letters(store):
    writer = BatchWriter(store)
    rows = _rows(4)
    writer.write(rows[:2], [])
    rejected = [deadletter.of_row(rows[3], "a value no column holds")]
    writer.write(rows[:3], rejected)  # a batch re-sent with one new call, and a dead letter
    counts = writer.counts
    assert (counts.rows_written, counts.rows_already_stored, counts.rows_dead_lettered) == (3, 2, 1)
    assert _count(store) == 3
    [letter] = store.query(f"SELECT span_id, reason FROM {store.database}.{deadletter.TABLE}")
    assert letter == {"span_id": rows[3].span_id, "reason": "a value no column holds"}


def test_query_parameters_bind_on_the_store(store):
    store.insert_usage(_rows(2))
    found = store.query(
        f"SELECT span_id FROM {store.database}.llm_usage"
        " WHERE trace_id IN {ids:Array(String)} AND ts >= {since:DateTime64(6, 'UTC')} AND tenant_id = {tenant:String}"
        " ORDER BY span_id",
        {"ids": [BASE_ROW.trace_id, "it's \\ quoted"], "since": "2026-11-01 12:30:15.123456", "tenant": "acme"},
    )
    assert found == [{"span_id": f"{index:016x}"} for index in range(2)]


def test_a_batch_no_column_can_hold_is_a_permanent_error(store):
    with pytest.raises(StoreError) as raised:
        store.insert_usage([dataclasses.replace(BASE_ROW, input_tokens=-1)])  # UInt64
    assert raised.value.retryable is False
    assert _count(store) == 0


def test_a_bad_statement_is_a_store_error(store):
    with pytest.raises(StoreError):
        store.query(f"SELECT nothing FROM {store.database}.no_such_table")


def test_a_read_only_store_reads_and_refuses_writes(opener):
    writable = opener()
    writable.insert_usage(_rows(1))
    writable.close()
    reader = opener(read_only=True)
    try:
        assert _count(reader) == 1
        with pytest.raises(StoreError):
            reader.command(f"TRUNCATE TABLE {reader.database}.llm_usage")
        assert _count(reader) == 1
    finally:
        reader.close()
