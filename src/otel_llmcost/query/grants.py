"""`otel-llmcost tenants grant T` for a ClickHouse server: a user and row policies, the server's own way.

chDB has no users or row policies (the embedded store's listener filters rows itself); a server does, so
there the guarantee comes from ClickHouse: a read-only user limited to the tenant's rows in every table
that holds tenants (CONTRACT C's tables). Each tenant's policy is permissive (policies of one user are
OR-ed), so the tenant user sees exactly its rows. Once any row policy exists on a table, ClickHouse shows
users without a policy on it no rows at all, hence the `USING 1` policy for the admin users named.
"""

from __future__ import annotations

import hashlib
import re

from otel_llmcost.errors import ConfigError
from otel_llmcost.query.scope import TRACE_LOOKUP_SUFFIX, identifier, row_condition, sql_string
from otel_llmcost.rows.traces import TABLE as TRACE_TABLE

#: table -> the column (or attribute map) naming its tenant
TENANT_TABLES = {
    "llm_usage": "tenant_id", "rejected_calls": "tenant_id", "usage_hourly": "tenant_id",
    "usage_daily": "tenant_id", "requests": "tenant_id", "request_counts_hourly": "tenant_id",
    "errors_hourly": "tenant_id", "users_daily": "tenant_id", "latency_hourly": "tenant_id",
    "latency_daily": "tenant_id", TRACE_TABLE: "SpanAttributes",
}


def user_name(tenant: str) -> str:
    """A plain name per tenant; a tenant that needed changing gets a hash suffix, so no two collide."""
    plain = re.sub(r"[^A-Za-z0-9_]", "_", tenant)
    suffix = "" if plain == tenant else "_" + hashlib.sha256(tenant.encode()).hexdigest()[:8]
    return f"llmcost_tenant_{plain}{suffix}"


def grant_statements(database: str, tenant: str, password: str, admins: tuple[str, ...] = ("default",)) -> list[str]:
    """The statements, in order; the password is stored as its SHA-256 only."""
    if not tenant.strip():
        raise ConfigError("a tenant name must not be empty")
    user = identifier(user_name(tenant))
    digest = hashlib.sha256(password.encode()).hexdigest()
    statements = [
        f"CREATE USER IF NOT EXISTS {user} IDENTIFIED WITH sha256_hash BY {sql_string(digest)}"
        f" DEFAULT DATABASE {identifier(database)}"
        f" SETTINGS readonly = 1, max_execution_time = 60 CHANGEABLE_IN_READONLY",
    ]
    conditions = {table: row_condition(column, tenant) for table, column in TENANT_TABLES.items()}
    # Grafana's trace view reads the lookup table: its rows follow the traces the tenant may see (the
    # subquery's read of otel_traces is itself under the tenant's row policy).
    traces = f"{identifier(database)}.{identifier(TRACE_TABLE)}"
    conditions[TRACE_TABLE + TRACE_LOOKUP_SUFFIX] = f"TraceId IN (SELECT TraceId FROM {traces})"
    for table, condition in conditions.items():
        target = f"{identifier(database)}.{identifier(table)}"
        statements.append(f"GRANT SELECT ON {target} TO {user}")
        statements.append(f"CREATE ROW POLICY IF NOT EXISTS {identifier(user_name(tenant) + '_' + table)} ON {target}"
                          f" USING {condition} TO {user}")
        statements.append(f"CREATE ROW POLICY IF NOT EXISTS {identifier('llmcost_admin_' + table)} ON {target}"
                          f" USING 1 TO {', '.join(identifier(admin) for admin in admins)}")
    return statements
