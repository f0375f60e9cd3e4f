"""The cluster path (`store.cluster: NAME`): a Distributed table over each replicated `<name>_local` table.

Writers and readers use the contract's names (llm_usage, usage_hourly, ...), which on a cluster are
Distributed tables; the materialized views run on each shard from its local llm_usage into its local
rollups. Raw rows, rollups and requests are sharded by tenant, so one tenant's requests and rollups live
on one shard; traces by trace id, like the Collector's load-balancing exporter. Planned, not tested
against a real cluster: a test checks that chDB parses every rendered statement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # migrations imports this module
    from otel_llmcost.store.migrations import SchemaOptions

import re

_CREATE_LOCAL = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)_local ON CLUSTER (\w+)\b", re.M)
_ADD_COLUMN_LOCAL = re.compile(r"^ALTER TABLE (\w+)\.(\w+)_local( ON CLUSTER \w+\s+ADD COLUMN .*)$", re.S)
#: table -> the Distributed table's sharding key
SHARDING_KEYS = {
    "otel_traces": "cityHash64(TraceId)",
    "otel_traces_trace_id_ts": "cityHash64(TraceId)",
    "schema_migrations": "version",
    "reprice_runs": "rand()",
}
_BY_TENANT = "cityHash64(tenant_id)"


def with_distributed_tables(statements: list[str], options: SchemaOptions) -> list[str]:
    """`statements` with a Distributed table of the plain name after each CREATE TABLE of a local one, and
    each column added to a local table added to its Distributed table too."""
    rendered = []
    for statement in statements:
        rendered.append(statement)
        added = _ADD_COLUMN_LOCAL.match(statement)
        if added:
            database, table, rest = added.groups()
            rendered.append(f"ALTER TABLE {database}.{table}{rest}")
        created = _CREATE_LOCAL.search(statement)
        if created:
            database, table, name = created.groups()
            key = SHARDING_KEYS.get(table, _BY_TENANT)
            rendered.append(
                f"CREATE TABLE IF NOT EXISTS {database}.{table} ON CLUSTER {name} AS {database}.{table}_local"
                f" ENGINE = Distributed({name}, {database}, {table}_local, {key})"
            )
    return rendered
