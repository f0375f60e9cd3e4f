"""Store stage: priced usage rows into ClickHouse, embedded (chDB) or a server, behind one interface."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, Sequence, runtime_checkable

from otel_llmcost.config import Settings
from otel_llmcost.model import UsageRow


@runtime_checkable
class UsageStore(Protocol):
    """What the pipeline and the CLI need from a store. One INSERT per insert_usage call."""

    database: str

    def ensure_schema(self, options=None) -> None:
        """Apply pending migrations (store/migrations.py); `options`: SchemaOptions, default for this database."""

    def insert_usage(self, rows: Sequence[UsageRow], /) -> None:
        """One INSERT with the batch's dedup token: a retry or replay of the same rows is stored once."""

    def insert_traces(self, columns: list[list], /) -> None:
        """Spans into otel_traces (columns from traces.TraceKeeper), one INSERT with a dedup token."""

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]: ...

    def insert_columns(self, table: str, column_types: Sequence[tuple[str, str]], columns: list[list], /,
                       dedup_token: str = "") -> None: ...

    def command(self, sql: str, params: dict[str, Any] | None = None, /) -> None: ...

    def close(self) -> None: ...


def sql_time(moment: datetime) -> str:
    """A UTC time as a DateTime64(6) query parameter (llm_usage.ts's type)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def open_store(settings: Settings, read_only: bool = False) -> UsageStore:
    """The configured store; raises StoreError with a one-line reason when it cannot be reached."""
    if not settings.store.enabled:
        from otel_llmcost.store.null import NullStore

        return NullStore()
    if settings.store.clickhouse:
        from otel_llmcost.store.server_store import ServerStore

        return ServerStore(settings.store.clickhouse, settings.store.database_name, read_only)
    from otel_llmcost.store.chdb_store import ChdbStore

    return ChdbStore(settings.chdb_path, settings.store.database, read_only)


class QueryableStore(Protocol):
    """Read access, as `sql` and `stats` need it."""

    database: str

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def open_reader(settings: Settings) -> QueryableStore:
    """A read-only store. The embedded one is read through the query guard only: the running receiver's
    query listener when there is one (asked first: opening a directory another process holds makes chDB
    print a lock error), else the same guard in-process. A server enforces its own users' rights."""
    if not settings.store.clickhouse:
        from otel_llmcost.query.local import LocalReader  # the guard lives with the query interface
        from otel_llmcost.store.remote import RemoteStore

        remote = RemoteStore.of_running_receiver(settings.data_dir, settings.store.database_name)
        if remote is not None and remote.answers():
            return remote
        return LocalReader(settings)
    return open_store(settings, read_only=True)


__all__ = ["QueryableStore", "UsageStore", "open_reader", "open_store", "sql_time"]
