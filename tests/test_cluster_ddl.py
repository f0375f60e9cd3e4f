"""The cluster path's DDL (store.cluster): chDB parses every statement, and every table is named."""

from __future__ import annotations

import re

from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.migrations import SchemaOptions, all_statements

TABLES = {"schema_migrations", "llm_usage", "reprice_runs", "usage_hourly", "usage_daily", "requests",
          "request_counts_hourly", "errors_hourly", "users_daily", "otel_traces", "otel_traces_trace_id_ts",
          "rejected_calls", "latency_hourly", "latency_daily", "reconciliations", "projects_hourly",
          "tenant_terms", "exchange_rates", "usage_all_hourly", "usage_all_daily", "features_hourly",
          "features_daily", "users_hourly", "errors_all_hourly", "errors_all_daily", "projects_daily",
          "requests_all_hourly", "requests_all_daily", "sessions_daily", "session_peaks_daily",
          "session_peaks_all_daily", "statement_hourly", "statement_daily"}
VIEWS = {"usage_hourly_mv", "usage_daily_mv", "requests_mv", "request_counts_hourly_mv", "errors_hourly_mv",
         "users_daily_mv", "latency_hourly_mv", "latency_daily_mv", "otel_traces_trace_id_ts_mv", "projects_hourly_mv",
         "usage_all_hourly_mv", "usage_all_daily_mv", "features_hourly_mv", "features_daily_mv", "users_hourly_mv",
         "errors_all_hourly_mv", "errors_all_daily_mv", "projects_daily_mv", "requests_all_hourly_mv",
         "requests_all_daily_mv", "sessions_daily_mv", "session_peaks_daily_mv", "session_peaks_all_daily_mv",
         "statement_hourly_mv", "statement_daily_mv"}


def test_rendered_cluster_ddl_parses_and_names_every_table(tmp_path):
    statements = all_statements(SchemaOptions("llmcost", cluster="llm"))
    session = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    created = set()
    for statement in statements:
        [formatted] = session.query("SELECT formatQuery({statement:String}) AS f", {"statement": statement})
        formatted = formatted["f"]
        assert "ON CLUSTER llm" in formatted, statement
        created.update(re.findall(r"^CREATE (?:TABLE|MATERIALIZED VIEW|DATABASE) (?:IF NOT EXISTS )?(\S+)",
                                  formatted, re.M))
        if "MergeTree" in formatted:
            assert "Replicated" in formatted and "'/clickhouse/tables/{shard}/{database}/{table}'" in formatted
            assert "non_replicated_deduplication_window" not in formatted
        if formatted.startswith("CREATE MATERIALIZED VIEW"):  # each shard's view reads and writes local tables
            assert re.search(r"TO llmcost\.\w+_local", formatted) and "_local" in formatted.split("FROM", 1)[1]
    session.close()
    assert created == {"llmcost"} | {f"llmcost.{t}" for t in TABLES} | {f"llmcost.{t}_local" for t in TABLES} | {
        f"llmcost.{v}_local" for v in VIEWS}
    distributed = [s for s in statements if "ENGINE = Distributed(" in s]
    assert len(distributed) == len(TABLES)
    assert any("Distributed(llm, llmcost, llm_usage_local, cityHash64(tenant_id))" in s for s in distributed)
    assert any("Distributed(llm, llmcost, otel_traces_local, cityHash64(TraceId))" in s for s in distributed)
