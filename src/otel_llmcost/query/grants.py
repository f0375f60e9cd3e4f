"""`otel-llmcost tenants grant T` for a ClickHouse server: a user and row policies, the server's own way.

The embedded store carries the same policies in its users file, keyed on a per-session setting (chDB has
one user: store/policies.py); a server has users, so there each tenant gets a read-only user limited to its
rows in every table that holds tenants (store/policies.TENANT_TABLES, CONTRACT C's tables). Each tenant's
policy is permissive (policies of one user are OR-ed), so the tenant user sees exactly its rows. Once any
row policy exists on a table, ClickHouse shows users without a policy on it no rows at all, hence the
`USING 1` policy for the admin users named.
"""

from __future__ import annotations

import hashlib
import re

from otel_llmcost.errors import ConfigError
from otel_llmcost.store.policies import identifier, sql_string, tenant_conditions


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
    for table, condition in tenant_conditions(database, sql_string(tenant)).items():
        target = f"{identifier(database)}.{identifier(table)}"
        statements.append(f"GRANT SELECT ON {target} TO {user}")
        statements.append(f"CREATE ROW POLICY IF NOT EXISTS {identifier(user_name(tenant) + '_' + table)} ON {target}"
                          f" USING {condition} TO {user}")
        statements.append(f"CREATE ROW POLICY IF NOT EXISTS {identifier('llmcost_admin_' + table)} ON {target}"
                          f" USING 1 TO {', '.join(identifier(admin) for admin in admins)}")
    return statements
