"""What a key may read: which tables, and for a tenant key which rows of them.

Rows are scoped by us, not by the query: every table of the project database that holds tenants gets an
`additional_table_filters` entry, which ClickHouse applies to each read of that table however the query
reaches it (aliases, subqueries, JOINs, CTEs, UNION). A query's own `SETTINGS additional_table_filters`
and `merge()` would bypass it; the guard refuses both. Tables that cannot be scoped are refused to tenants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from otel_llmcost.rows.traces import TENANT_ATTRIBUTE
from otel_llmcost.store.reader import TableInfo

#: The span attribute the receiver sets from the ingest key (CONTRACT B): unforgeable by clients.
#: The Collector's trace id -> time range table beside a trace table (Grafana's trace view uses it).
TRACE_LOOKUP_SUFFIX = "_trace_id_ts"

# Metadata a SQL client browses; none of it names a tenant.
TENANT_SYSTEM_TABLES = frozenset({
    "one", "numbers", "numbers_mt", "zeros", "zeros_mt", "databases", "tables", "columns", "functions",
    "table_functions", "data_type_families", "formats", "settings", "time_zones", "build_options", "keywords",
    "aggregate_function_combinators", "collations", "table_engines", "merge_tree_settings", "contributors",
    "licenses", "current_roles", "enabled_roles",
})
# Admins also see storage and query activity (which can carry tenant names in partitions or query text).
ADMIN_SYSTEM_TABLES = TENANT_SYSTEM_TABLES | {
    "parts", "parts_columns", "processes", "query_log", "asynchronous_metrics", "metrics", "events",
    "disks", "detached_parts", "mutations", "merges", "projection_parts", "errors",
}
METADATA_DATABASES = frozenset({"information_schema", "INFORMATION_SCHEMA"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks: a tenant key reads one tenant; an admin key (tenant None) reads everything."""

    tenant: str | None
    key_id: str = ""

    @property
    def is_admin(self) -> bool:
        return self.tenant is None


def tenant_condition(table: TableInfo, tenant: str, tables: Mapping[str, TableInfo]) -> str | None:
    """The row condition limiting `table` to `tenant`, or None if the table holds no tenant we can see.
    `tables`: the database's tables, for a trace-id lookup table whose rows follow its trace table's."""
    if not table.engine.endswith("MergeTree"):
        return None  # views and MV shells: their reads bypass a filter keyed on the target's name
    if "tenant_id" in table.columns:
        return row_condition("tenant_id", tenant)
    if table.columns.get("SpanAttributes", "").startswith("Map("):
        return row_condition("SpanAttributes", tenant)
    spans = tables.get(table.name.removesuffix(TRACE_LOOKUP_SUFFIX))
    if table.name.endswith(TRACE_LOOKUP_SUFFIX) and "TraceId" in table.columns and spans is not None \
            and tenant_condition(spans, tenant, tables) is not None:
        # The subquery's read of the trace table is filtered by that table's own entry.
        return f"TraceId IN (SELECT TraceId FROM {identifier(spans.database)}.{identifier(spans.name)})"
    return None


def row_condition(tenant_column: str, tenant: str) -> str:
    """`tenant_id = 'T'`, or for trace tables the span attribute the receiver stamps with the trace's tenant."""
    if tenant_column == "SpanAttributes":
        return f"SpanAttributes[{sql_string(TENANT_ATTRIBUTE)}] = {sql_string(tenant)}"
    return f"{tenant_column} = {sql_string(tenant)}"


def table_filters(tables: list[TableInfo], tenant: str) -> str:
    """The additional_table_filters value for a tenant: every scoped table of the project database."""
    by_name = {table.name: table for table in tables}
    entries = []
    for table in tables:
        condition = tenant_condition(table, tenant, by_name)
        if condition is not None:
            entries.append(f"{sql_string(f'{table.database}.{table.name}')}: {sql_string(condition)}")
    return "{" + ", ".join(entries) + "}"


def identifier(name: str) -> str:
    """A ClickHouse identifier, backquoted."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def sql_string(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
