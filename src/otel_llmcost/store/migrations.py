"""Versioned, idempotent schema migrations: clickhouse/migrations/NNN_name.sql, applied in order.

`migrate` runs 000 (the database and `schema_migrations`) on every pass, then each migration whose version
is not recorded yet, then records it. Every statement is idempotent (IF NOT EXISTS, MODIFY SETTING), so a
pass interrupted between a migration and its record is simply repeated. The same files serve chDB and a
server; with `store.cluster` they render ReplicatedMergeTree tables `ON CLUSTER` (as `<name>_local`) with a
Distributed table of the contract's name over each (store/cluster.py). Retention (TTL) is applied after
every pass from the configuration, so changing it needs no migration.

Migrations run before a receiver accepts data: a backfill (rebuilding the rollups after 003, 006, 007, 009, 011,
014 and 015) counts rows that other writers insert meanwhile twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.resources import files
from typing import TYPE_CHECKING

from otel_llmcost.errors import StoreError
from otel_llmcost.store import cluster, retention, rollups

if TYPE_CHECKING:
    from otel_llmcost.config import Settings
    from otel_llmcost.store import SchemaStore

_DEDUP_WINDOW_BLOCKS = 1000  # inserts remembered per table: a retry later than this many batches is not caught
_FILE = re.compile(r"^(\d{3})_(\w+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")


@dataclass(frozen=True)
class SchemaOptions:
    """What the rendered DDL depends on (from the `store`, `traces` and retention settings)."""

    database: str = "llmcost"
    cluster: str | None = None
    raw_ttl_days: int = 0  # 0: kept forever
    rollup_ttl_days: int = 0
    traces_ttl_days: int = 0

    @classmethod
    def of(cls, settings: Settings) -> SchemaOptions:
        store = settings.store
        return cls(store.database_name, store.cluster, store.raw_ttl_days, store.rollup_ttl_days,
                   settings.traces.ttl_days)

    def values(self) -> dict[str, str]:
        """The template placeholders."""
        local = "_local" if self.cluster else ""
        return {
            "database": self.database,
            "local": local,
            "on_cluster": f" ON CLUSTER {self.cluster}" if self.cluster else "",
            "replicated": "Replicated" if self.cluster else "",
            # {shard}, {database}, {table}, {replica}: macros the ClickHouse server expands itself
            "replica": "('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')" if self.cluster else "",
            "dedup_window": f"{'' if self.cluster else 'non_'}replicated_deduplication_window = {_DEDUP_WINDOW_BLOCKS}",
        }


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    template: str
    #: run after the statements, before the version is recorded (must be idempotent too)
    after: Callable[[SchemaStore, SchemaOptions], None] | None = None

    def statements(self, options: SchemaOptions) -> list[str]:
        text = self.template.format(**options.values())
        rendered = [part.strip() for part in _STATEMENT_END.split(text) if _code(part)]
        return cluster.with_distributed_tables(rendered, options) if options.cluster else rendered


def _code(part: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in part.splitlines())


def _rebuilding(*which: rollups.Rollup) -> Callable[[SchemaStore, SchemaOptions], None]:
    """The step that fills the rollups a migration adds from the raw rows already stored."""

    def rebuild(store: SchemaStore, options: SchemaOptions) -> None:
        if not options.cluster:  # a cluster starts empty; its rollups are per-shard tables (see store/cluster.py)
            rollups.rebuild(store, None, which)

    return rebuild


def _materializing(projection: str, then: Callable[[SchemaStore, SchemaOptions], None]
                   ) -> Callable[[SchemaStore, SchemaOptions], None]:
    """The step that builds a projection of llm_usage for the parts already stored (a mutation, waited for), then
    `then`. Idempotent: parts that have it are skipped."""

    def materialize(store: SchemaStore, options: SchemaOptions) -> None:
        if not options.cluster:
            store.command(f"ALTER TABLE {store.database}.llm_usage MATERIALIZE PROJECTION {projection}"
                          f" SETTINGS mutations_sync = 1")
        then(store, options)

    return materialize


#: Steps after a migration's statements, by version (e.g. filling new rollups from the raw rows).
_AFTER = {3: _rebuilding(rollups.USAGE_HOURLY, rollups.USAGE_DAILY, rollups.REQUESTS),
          6: _rebuilding(rollups.USAGE_HOURLY, rollups.USAGE_DAILY, rollups.REQUEST_COUNTS_HOURLY,
                         rollups.ERRORS_HOURLY, rollups.USERS_DAILY),
          7: _rebuilding(rollups.LATENCY_HOURLY, rollups.LATENCY_DAILY),
          # unpriced_calls no longer counts the calls the row check refused; invalid_usage_calls counts them
          9: _rebuilding(rollups.USAGE_HOURLY, rollups.USAGE_DAILY, rollups.REQUESTS, rollups.USERS_DAILY),
          # the calls stored before: project and API key '' (they recorded neither), their list cost from
          # their stored cost and multiplier, every total intact
          11: _rebuilding(rollups.USAGE_HOURLY, rollups.USAGE_DAILY, rollups.PROJECTS_HOURLY),
          # the projection sorted by time for the rows stored before (new parts get it as they are written), and
          # the rollups it adds (each after its source)
          14: _materializing("by_time", _rebuilding(rollups.USAGE_ALL_HOURLY, rollups.USAGE_ALL_DAILY,
                                                    rollups.FEATURES_HOURLY, rollups.FEATURES_DAILY,
                                                    rollups.USERS_HOURLY, rollups.ERRORS_ALL_HOURLY,
                                                    rollups.ERRORS_ALL_DAILY, rollups.PROJECTS_DAILY,
                                                    rollups.REQUESTS_ALL_HOURLY, rollups.REQUESTS_ALL_DAILY)),
          # the projection again with response_model, and the sessions' and statement lines' rollups
          15: _materializing("by_ts", _rebuilding(rollups.SESSIONS_DAILY, rollups.SESSION_PEAKS_DAILY,
                                                  rollups.SESSION_PEAKS_ALL_DAILY,
                                                  rollups.STATEMENT_HOURLY, rollups.STATEMENT_DAILY))}


def _load() -> tuple[Migration, ...]:
    found = []
    for entry in files("otel_llmcost.ddl").joinpath("migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            version = int(match.group(1))
            found.append(Migration(version, match.group(2), entry.read_text(encoding="utf-8"), _AFTER.get(version)))
    found.sort(key=lambda migration: migration.version)
    return tuple(found)


MIGRATIONS = _load()
BOOTSTRAP, VERSIONED = MIGRATIONS[0], MIGRATIONS[1:]
LATEST = VERSIONED[-1].version


def all_statements(options: SchemaOptions) -> list[str]:
    """Every statement of every migration, in order: what `otel-llmcost schema` prints."""
    return [statement for migration in MIGRATIONS for statement in migration.statements(options)]


def applied_versions(store: SchemaStore) -> set[int]:
    rows = store.query(f"SELECT DISTINCT version FROM {store.database}.schema_migrations")
    return {int(row["version"]) for row in rows}


def migrate(store: SchemaStore, options: SchemaOptions) -> list[int]:
    """Bring the store's schema to LATEST; returns the versions applied now."""
    if options.database != store.database:
        raise StoreError(f"schema options name database {options.database}, the store {store.database}")
    for statement in BOOTSTRAP.statements(options):
        store.command(statement)
    done = applied_versions(store)
    applied = []
    for migration in VERSIONED:
        if migration.version in done:
            continue
        for statement in migration.statements(options):
            store.command(statement)
        if migration.after:
            migration.after(store, options)
        store.insert_columns(
            "schema_migrations", (("version", "UInt32"), ("name", "String"), ("applied_at", "DateTime64(3, 'UTC')")),
            [[migration.version], [migration.name], [datetime.now(timezone.utc)]],
        )
        applied.append(migration.version)
    retention.apply(store, options)
    return applied
