"""The embedded store's tenant row policies on real chDB: every tenant table has one, sessions without a
tenant see nothing, and an engine started without the policies refuses tenant queries instead of opening."""

from __future__ import annotations

import pytest

from otel_llmcost.query.clientsettings import Limits
from otel_llmcost.query.errors import QueryError
from otel_llmcost.query.executor import QueryEngine, QueryRequest
from otel_llmcost.query.scope import Principal
from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.policies import (
    PLATFORM_TABLES,
    TENANT_SETTINGS,
    TENANT_TABLES,
    is_policy_table,
    users_xml,
)
from otel_llmcost.store.reader import ReadSession

LIMITS = Limits(max_execution_time=5, max_result_rows=1000, max_result_bytes=10_000_000, max_memory_usage=10**9)


def test_every_table_holding_tenants_has_a_policy(tmp_path):
    """A new table with a tenant column must get a policy (store/policies.TENANT_TABLES), or tenant keys
    are refused it: this test names it first. Unless it is said to be the platform's (PLATFORM_TABLES)."""
    store = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    try:
        store.ensure_schema()
        tables = store.query("SELECT t.name AS name, t.engine AS engine, groupArray(c.name) AS columns "
                             "FROM system.tables AS t JOIN system.columns AS c ON c.database = t.database "
                             "AND c.table = t.name WHERE t.database = 'llmcost' AND t.engine LIKE '%MergeTree' "
                             "GROUP BY t.name, t.engine")
    finally:
        store.close()
    holding = {row["name"] for row in tables if {"tenant_id", "SpanAttributes", "TraceId"} & set(row["columns"])
               and row["name"] not in PLATFORM_TABLES}
    assert holding and all(is_policy_table(name) for name in holding), holding
    text, profile = users_xml("llmcost")
    assert all(f"<{name}><filter>" in text for name in holding) and profile in text


def test_a_session_without_a_tenant_sees_no_rows(tmp_path):
    path = str(tmp_path / "chdb")
    store = ChdbStore(path, "llmcost")
    try:
        store.ensure_schema()
        store.command("INSERT INTO llmcost.llm_usage (ts, tenant_id) VALUES (now(), 'acme'), (now(), 'globex')")
        unscoped = ReadSession(path, "llmcost", every_tenant=False)
        try:
            assert unscoped.run("SELECT count() FROM llmcost.llm_usage") == b"0\n"
            assert unscoped.run("SELECT count() FROM llmcost.usage_hourly") == b"0\n"
            unscoped.scope_to("acme")
            assert unscoped.run("SELECT count() FROM llmcost.llm_usage") == b"1\n"
            with pytest.raises(Exception, match="should not be changed"):
                unscoped.run("SET log_comment = '*all*'")
            for name, value in TENANT_SETTINGS.items():  # what keeps the policy a read's first step: locked
                assert unscoped.run(f"SELECT toString(getSetting('{name}'))") in (f"{value}\n".encode(), b"false\n")
                with pytest.raises(Exception, match="should not be changed"):
                    unscoped.run(f"SELECT 1 SETTINGS {name} = 1")
        finally:
            unscoped.close()
        assert store.query("SELECT count() AS n FROM llmcost.usage_hourly") == [{"n": 2}]  # the writer's MVs
    finally:
        store.close()


def test_an_engine_started_without_the_policies_refuses_tenants(tmp_path):
    import chdb

    path = str(tmp_path / "chdb")
    ChdbStore(path, "llmcost").close()
    bare = chdb.connect(path)  # the process's first connect, without the policy config: none load
    try:
        bare.query("CREATE DATABASE IF NOT EXISTS llmcost")
        bare.query("CREATE TABLE IF NOT EXISTS llmcost.llm_usage (ts DateTime, tenant_id String) "
                   "ENGINE = MergeTree ORDER BY tenant_id")
        bare.query("INSERT INTO llmcost.llm_usage VALUES (now(), 'acme'), (now(), 'globex')")
        engine = QueryEngine(path, "llmcost", LIMITS, max_concurrent=1, queue_seconds=1)
        with pytest.raises(QueryError) as refused:
            engine.execute(QueryRequest("SELECT count() FROM llmcost.llm_usage", Principal("acme"), "TSV"))
        assert refused.value.code == 497 and "row policies are not loaded" in refused.value.message
        admin = engine.execute(QueryRequest("SELECT count() FROM llmcost.llm_usage", Principal(None), "TSV"))
        assert admin.body == b"2\n"
    finally:
        bare.close()


def test_the_all_tenants_value_is_no_tenant(tmp_path):
    path = str(tmp_path / "chdb")
    ChdbStore(path, "llmcost").close()
    session = ReadSession(path, "llmcost", every_tenant=False)
    try:
        for tenant in ("*all*", ""):
            with pytest.raises(Exception, match="cannot be a tenant"):
                session.scope_to(tenant)
    finally:
        session.close()


def test_final_merges_one_tenants_rows_only(tmp_path):
    """A tenant session applies its policy before FINAL (store/policies.TENANT_SETTINGS: ClickHouse's default
    defers it past the merge, and PREWHERE with it). Before or after, FINAL's answers are the same only while
    every table that merges rows keys them by tenant: rows of two tenants then never merge."""
    path = str(tmp_path / "chdb")
    store = ChdbStore(path, "llmcost")
    try:
        store.ensure_schema()
        tables = store.query("SELECT name, engine, sorting_key FROM system.tables WHERE database = 'llmcost'")
    finally:
        store.close()
    merging = {row["name"]: row["sorting_key"].split(", ") for row in tables
               if row["name"] in TENANT_TABLES and row["engine"] not in ("MergeTree", "ReplicatedMergeTree")}
    assert {"usage_hourly", "reconciliations"} <= set(merging)
    assert all(TENANT_TABLES[name] in key for name, key in merging.items()), merging


def test_a_tenant_never_reads_through_a_projection(tmp_path):
    """A read from a projection ANDs the policy into the query's PREWHERE: with the WHERE left out of PREWHERE,
    a tenant's throwIf ran on another tenant's row. Tenant sessions read no projection (locked); admins still do."""
    path = str(tmp_path / "chdb")
    store = ChdbStore(path, "llmcost")
    try:
        store.ensure_schema()
        store.command("INSERT INTO llmcost.llm_usage (ts, tenant_id) VALUES (now(), 'acme'), (now() - 60, 'globex')")
        # the time-sorted projection (migration 014's by_time, 015's by_ts), built for the stored parts as its
        # backfill does (the read below leaked from such parts)
        store.command("ALTER TABLE llmcost.llm_usage MATERIALIZE PROJECTION by_ts SETTINGS mutations_sync = 2")
    finally:
        store.close()
    attack = ("SELECT count() FROM llmcost.llm_usage WHERE ts > now() - INTERVAL 1 DAY AND "
              "throwIf(tenant_id != 'acme') = 0 SETTINGS force_optimize_projection = 1, "
              "move_all_conditions_to_prewhere = 0")  # without the lock: throwIf fires (globex's row)
    admin = ReadSession(path, "llmcost", every_tenant=True)
    try:  # the projection serves this query
        assert admin.run("SELECT count() FROM llmcost.llm_usage WHERE ts > now() - INTERVAL 1 DAY "
                         "SETTINGS force_optimize_projection = 1") == b"2\n"
    finally:
        admin.close()
    session = ReadSession(path, "llmcost", every_tenant=False)
    try:
        session.scope_to("acme")
        assert session.run(attack) == b"1\n"
        assert "by_ts" not in session.run(f"EXPLAIN actions = 1 {attack}").decode()  # the table's own read
    finally:
        session.close()
