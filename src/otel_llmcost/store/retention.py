"""Retention from the configuration: a TTL per table, set again whenever the configured days change.

Raw rows and requests (the drill-down) keep `store.raw_ttl_days`, rollups `store.rollup_ttl_days` (longer),
traces `traces.ttl_days`; 0 keeps rows forever. Parts are dropped whole (ttl_only_drop_parts), and a
changed TTL applies to new merges only (materialize_ttl_after_modify = 0: no rewrite of a year of parts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # both import this module
    from otel_llmcost.store import SchemaStore
    from otel_llmcost.store.migrations import SchemaOptions

#: table -> (time column as DateTime, which SchemaOptions field holds its days)
_TABLES = {
    "llm_usage": ("toDateTime(ts)", "raw_ttl_days"),
    "requests": ("hour", "raw_ttl_days"),
    "usage_hourly": ("hour", "rollup_ttl_days"),
    "usage_daily": ("day", "rollup_ttl_days"),
    "request_counts_hourly": ("hour", "rollup_ttl_days"),
    "errors_hourly": ("hour", "rollup_ttl_days"),
    "users_daily": ("day", "rollup_ttl_days"),
    "latency_hourly": ("hour", "rollup_ttl_days"),
    "latency_daily": ("day", "rollup_ttl_days"),
    "projects_hourly": ("hour", "rollup_ttl_days"),
    **{table: ("hour", "rollup_ttl_days") for table in ("usage_all_hourly", "features_hourly", "users_hourly",
                                                        "errors_all_hourly", "requests_all_hourly",
                                                        "statement_hourly")},
    **{table: ("day", "rollup_ttl_days") for table in ("usage_all_daily", "features_daily", "errors_all_daily",
                                                       "projects_daily", "requests_all_daily",
                                                       "sessions_daily", "session_peaks_daily",
                                                       "session_peaks_all_daily", "statement_daily")},
    "otel_traces": ("toDateTime(Timestamp)", "traces_ttl_days"),
    "otel_traces_trace_id_ts": ("Start", "traces_ttl_days"),
}
_CURRENT = """
SELECT name, engine_full FROM system.tables WHERE database = {database:String} AND name IN {tables:Array(String)}
"""


def ttl_clause(table: str, days: int) -> str:
    column, _ = _TABLES[table]
    return f"TTL {column} + toIntervalDay({days})"


def apply(store: SchemaStore, options: SchemaOptions) -> None:
    """Set each table's TTL to the configured one where it differs."""
    local = "_local" if options.cluster else ""
    on_cluster = f" ON CLUSTER {options.cluster}" if options.cluster else ""
    names = {f"{table}{local}": table for table in _TABLES}
    current = store.query(_CURRENT, {"database": options.database, "tables": sorted(names)})
    for row in current:
        table = names[row["name"]]
        days = getattr(options, _TABLES[table][1])
        wanted = ttl_clause(table, days) if days else ""
        has_ttl = " TTL " in row["engine_full"]
        if (wanted and wanted in row["engine_full"]) or (not wanted and not has_ttl):
            continue
        change = f"MODIFY {wanted}" if wanted else "REMOVE TTL"
        store.command(f"ALTER TABLE {options.database}.{row['name']}{on_cluster} {change}"
                      " SETTINGS materialize_ttl_after_modify = 0")
        if wanted:
            store.command(f"ALTER TABLE {options.database}.{row['name']}{on_cluster}"
                          " MODIFY SETTING ttl_only_drop_parts = 1")
