"""Versioned migrations on real chDB: from the previous release's schema with data, and run twice."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from otel_llmcost.kinds import COUNTS
from otel_llmcost.reports.usage_stats import StatsQuery, stats_rows
from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.migrations import VERSIONED, SchemaOptions, applied_versions, migrate
from otel_llmcost.store.schema import COLUMN_TYPES, TABLE, to_columns
from rollup_checks import assert_rollups_match_raw
from test_store import BASE_ROW

ALL = [migration.version for migration in VERSIONED]  # numbers are reserved per issue: not always consecutive

PREVIOUS_RELEASE_DDL = Path(__file__).parent / "fixtures" / "schema_4030af6.sql"
RELEASE_29B776E_DDL = Path(__file__).parent / "fixtures" / "schema_29b776e.sql"


def _rows(count: int) -> list:
    """Calls over two months, three tenants sharing request ids, some unpriced."""
    start = datetime(2026, 10, 20, tzinfo=timezone.utc)
    return [
        dataclasses.replace(
            BASE_ROW, ts=start + timedelta(hours=7 * n), span_id=f"{n:016x}", tenant_id=f"t{n % 3}",
            request_id=f"r{n // 4}", attempt=1 + n % 2, feature=("chat", "search")[n % 2], input_tokens=n,
            cost_usd=None if n % 5 == 0 else Decimal(n) / Decimal(3000), status="error" if n % 7 == 0 else "ok",
            cost_status="unpriced" if n % 5 == 0 else "priced",
            input_cost_usd=Decimal("0.000000000001") * n, ttft_ms=float(n) if n % 2 else None,
            latency_ms=100.0 + n,
        )
        for n in range(count)
    ]


def _release(tmp_path, ddl: Path, name: str = "chdb") -> ChdbStore:
    """The database as an earlier release made it, with rows inserted as it inserted them (the columns it had)."""
    store = ChdbStore(str(tmp_path / name), "llmcost")
    for statement in ddl.read_text().split(";\n"):
        if statement.strip():
            store.command(statement.format(database="llmcost"))
    had = {row["name"] for row in store.query("DESCRIBE TABLE llmcost.llm_usage")}
    columns = to_columns(_rows(300))
    store.insert_columns(TABLE, [c for c in COLUMN_TYPES if c[0] in had],
                         [column for (name, _), column in zip(COLUMN_TYPES, columns, strict=True) if name in had])
    return store


def _previous_release(tmp_path) -> ChdbStore:
    return _release(tmp_path, PREVIOUS_RELEASE_DDL)


def _old_columns(store) -> str:
    """The previous release's llm_usage columns: what its rows hold."""
    return ", ".join(row["name"] for row in store.query(
        "SELECT name FROM system.columns WHERE database = 'llmcost' AND table = 'llm_usage' ORDER BY position"))


def test_previous_release_schema_migrates_with_every_row_and_total_intact(tmp_path):
    store = _previous_release(tmp_path)
    old_columns = _old_columns(store)
    before = store.query(f"SELECT {old_columns} FROM llmcost.llm_usage ORDER BY span_id")
    cost_before = store.query("SELECT toString(sum(cost_usd)) AS usd, count() AS n FROM llmcost.llm_usage")

    assert migrate(store, SchemaOptions("llmcost")) == ALL

    assert store.query(f"SELECT {old_columns} FROM llmcost.llm_usage ORDER BY span_id") == before
    added = [name for name in COUNTS if name not in old_columns.split(", ")]  # counts of kinds added since
    assert added and store.query(f"SELECT max({' + '.join(added)}) AS most FROM llmcost.llm_usage") == [{"most": 0}]
    assert store.query("SELECT toString(sum(cost_usd)) AS usd, count() AS n FROM llmcost.llm_usage") == cost_before
    described = store.query("DESCRIBE TABLE llmcost.llm_usage")
    assert [(row["name"], row["type"]) for row in described] == list(COLUMN_TYPES)
    raw = assert_rollups_match_raw(store)  # the rollups were filled from the rows already there
    assert raw["calls"] == 300
    store.close()


def _columns_of_every_table(store) -> dict:
    return {row["table"]: row["columns"] for row in store.query(
        "SELECT table, groupArray((name, type)) AS columns FROM (SELECT table, name, type FROM system.columns"
        " WHERE database = 'llmcost' ORDER BY table, position) GROUP BY table")}


def test_the_release_before_request_counts_migrates_to_the_fresh_schema(tmp_path):
    """Release 29b776e's schema (version 5) with data: 006 adds columns and rollups, 007 more rollups. Every
    table then has a fresh install's columns in a fresh install's order (a rollup must not differ by install),
    every rollup equals the raw rows, and the requests of all tenants count."""
    fresh = ChdbStore(str(tmp_path / "fresh"), "llmcost")
    migrate(fresh, SchemaOptions("llmcost"))
    expected = _columns_of_every_table(fresh)
    fresh.close()
    store = _release(tmp_path, RELEASE_29B776E_DDL)

    try:
        assert migrate(store, SchemaOptions("llmcost")) == [version for version in ALL if version > 5]

        assert _columns_of_every_table(store) == expected
        raw = assert_rollups_match_raw(store)  # the new rollups and retry_cost_usd: filled from the rows there
        assert raw["requests"] == 225  # 75 request ids, each in three tenants: shared ids are not merged
        since, until = datetime(2026, 10, 1, 0, 30, tzinfo=timezone.utc), datetime(2027, 2, 1, tzinfo=timezone.utc)
        by_feature = stats_rows(store, StatsQuery("feature", {}), since, until)
        assert sum(row["calls"] for row in by_feature) == 300
        assert sum(Decimal(row["cost_usd"]) for row in by_feature) == Decimal(raw["cost_usd"])
    finally:
        store.close()


def test_migrate_twice_changes_nothing_the_second_time(tmp_path):
    store = _previous_release(tmp_path)
    options = SchemaOptions("llmcost", raw_ttl_days=400, rollup_ttl_days=1830)
    migrate(store, options)
    tables = store.query("SELECT name, create_table_query FROM system.tables WHERE database = 'llmcost' ORDER BY name")
    totals = assert_rollups_match_raw(store)

    assert migrate(store, options) == []
    assert applied_versions(store) == set(ALL)
    assert store.query("SELECT count() AS n FROM llmcost.schema_migrations") == [{"n": len(ALL)}]
    assert store.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = 'llmcost' ORDER BY name") == tables
    assert assert_rollups_match_raw(store) == totals
    store.close()


def test_retention_follows_the_configuration(tmp_path):
    store = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    migrate(store, SchemaOptions("llmcost", raw_ttl_days=30, rollup_ttl_days=365))
    engines = {row["name"]: row["engine_full"] for row in store.query(
        "SELECT name, engine_full FROM system.tables WHERE database = 'llmcost'")}
    assert "TTL toDateTime(ts) + toIntervalDay(30)" in engines["llm_usage"]
    assert "TTL hour + toIntervalDay(365)" in engines["usage_hourly"]
    assert "TTL day + toIntervalDay(365)" in engines["usage_daily"]
    migrate(store, SchemaOptions("llmcost", raw_ttl_days=0, rollup_ttl_days=365))  # raw rows kept forever now
    engine = store.query("SELECT engine_full FROM system.tables WHERE database = 'llmcost' AND name = 'llm_usage'")
    assert " TTL " not in engine[0]["engine_full"]
    store.close()
