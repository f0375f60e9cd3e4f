"""No store (`serve --store none`): the receiver prices spans and forwards them; nothing is kept.

Every write is taken and forgotten; a read finds nothing (the flusher's "already stored?" lookup then sends
every row on, which is all there is to do with them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from otel_llmcost.model import UsageRow

if TYPE_CHECKING:
    from otel_llmcost.store.migrations import SchemaOptions


class NullStore:
    database = "none"

    def ensure_schema(self, options: SchemaOptions | None = None) -> None:
        pass

    def insert_usage(self, rows: Sequence[UsageRow], /) -> None:
        pass

    def insert_traces(self, columns: list[list], /) -> None:
        pass

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]:
        return []

    def insert_columns(self, table: str, column_types: Sequence[tuple[str, str]], columns: list[list], /,
                       dedup_token: str = "") -> None:
        pass

    def command(self, sql: str, params: dict[str, Any] | None = None, /) -> None:
        pass

    def close(self) -> None:
        pass
