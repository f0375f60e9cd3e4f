"""What a key may read: which tables, and for a tenant key which rows of them.

Rows are scoped by the engine, not by the query: every tenant table has a row policy (store/policies.py)
that keeps the session's tenant's rows before any expression of the query runs, however the query reaches
the table (aliases, subqueries, JOINs, CTEs, UNION, PREWHERE). `merge()` and dictionaries read around a
policy, and a table without one is read whole, so the guard refuses them and tenant keys read only tables
with a policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_llmcost.store.policies import is_policy_table
from otel_llmcost.store.reader import TableInfo

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


def tenant_scoped(table: TableInfo) -> bool:
    """Whether a tenant key may read `table`: a MergeTree table under a tenant row policy. Views and MV
    shells are not: their names carry no policy."""
    return table.engine.endswith("MergeTree") and is_policy_table(table.name)
