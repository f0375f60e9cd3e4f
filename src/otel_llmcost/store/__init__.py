"""Store stage: priced usage rows into ClickHouse, embedded (chDB) or a server, behind one interface."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from otel_llmcost.config import Settings
from otel_llmcost.model import UsageRow

# clickhouse-driver (imported by this package's modules only) builds a table of every date from 1900 to 2299 at
# import unless told to fill it lazily: 160 ms of CPU and tens of MB in each process (the receiver and each
# ingest worker) for Date columns, which no table here has. Filled on use, its values are the same.
os.environ.setdefault("CLICKHOUSE_DRIVER_LASY_DATE_LUT", "1970-01-01:1970-01-01")  # the driver's spelling

if TYPE_CHECKING:  # migrations imports this package
    from otel_llmcost.store.migrations import SchemaOptions


@runtime_checkable
class QueryableStore(Protocol):
    """What readers need (`sql`, `stats`, reports, alerts): queries, nothing written."""

    database: str

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]:
        """Rows as dicts, values as chDB's JSON gives them: Decimals and times as strings, so no float ever
        touches money."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class WritableStore(Protocol):
    """What the flusher needs (flush/writer.py): its inserts, and the lookup of calls stored already."""

    database: str

    def insert_usage(self, rows: Sequence[UsageRow], /) -> None:
        """One INSERT with the batch's dedup token: a retry or replay of the same rows is stored once."""
        ...

    def insert_traces(self, columns: list[list], /) -> None:
        """Spans into otel_traces (columns from rows/traces.TraceKeeper), one INSERT with a dedup token."""
        ...

    def insert_columns(self, table: str, column_types: Sequence[tuple[str, str]], columns: list[list], /,
                       dedup_token: str = "") -> None:
        """One INSERT of a columnar batch; a StoreError says whether retrying can help (`retryable`)."""
        ...

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]: ...


class SchemaStore(Protocol):
    """What migrations, retention and rollup rebuilds run on (store/migrations.py)."""

    database: str

    def command(self, sql: str, params: dict[str, Any] | None = None, /) -> None: ...

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]: ...

    def insert_columns(self, table: str, column_types: Sequence[tuple[str, str]], columns: list[list], /,
                       dedup_token: str = "") -> None: ...


@runtime_checkable
class UsageStore(WritableStore, QueryableStore, Protocol):
    """A whole store, as the receiver and the CLI open it: both of the above, plus schema and statements.
    Implemented by store/chdb_store.ChdbStore and store/server_store.ServerStore (tests/test_store_contract.py)."""

    def ensure_schema(self, options: SchemaOptions | None = None) -> None:
        """Apply pending migrations (store/migrations.py); default options: this database's."""
        ...

    def command(self, sql: str, params: dict[str, Any] | None = None, /) -> None:
        """A statement that returns nothing (DDL, ALTER, INSERT ... SELECT)."""
        ...


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


__all__ = ["QueryableStore", "SchemaStore", "UsageStore", "WritableStore", "open_reader", "open_store", "sql_time"]
