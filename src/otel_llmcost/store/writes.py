"""What both stores build on their own insert_columns: migrations, usage rows and trace spans, each
INSERT with its dedup token."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from otel_llmcost.model import UsageRow
from otel_llmcost.rows.traces import COLUMN_TYPES as TRACE_COLUMN_TYPES
from otel_llmcost.rows.traces import TABLE as TRACE_TABLE
from otel_llmcost.store import migrations
from otel_llmcost.store.schema import COLUMN_TYPES, TABLE, dedup_token, span_dedup_token, to_columns


class StoreWrites(ABC):
    """Base of ChdbStore and ServerStore, which provide `database`, insert_columns, command and query."""

    database: str

    @abstractmethod
    def insert_columns(self, table: str, column_types: Sequence[tuple[str, str]], columns: list[list], /,
                       dedup_token: str = "") -> None: ...

    @abstractmethod
    def command(self, sql: str, params: dict[str, Any] | None = None, /) -> None: ...

    @abstractmethod
    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]: ...

    def ensure_schema(self, options: migrations.SchemaOptions | None = None) -> None:
        migrations.migrate(self, options or migrations.SchemaOptions(self.database))

    def insert_usage(self, rows: Sequence[UsageRow], /) -> None:
        if rows:
            self.insert_columns(TABLE, COLUMN_TYPES, to_columns(list(rows)), dedup_token=dedup_token(list(rows)))

    def insert_traces(self, columns: list[list], /) -> None:
        """Spans as otel_traces columns (traces.TraceKeeper.columns), deduplicated like usage rows."""
        if columns[0]:
            token = span_dedup_token(columns[1], columns[2])
            self.insert_columns(TRACE_TABLE, TRACE_COLUMN_TYPES, columns, dedup_token=token)
