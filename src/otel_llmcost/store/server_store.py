"""ClickHouse server store over the native protocol (clickhouse-driver); same DDL and SQL as chDB."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any, Sequence

from otel_llmcost.errors import StoreError
from otel_llmcost.store.schema import DEDUP_SETTINGS
from otel_llmcost.store.writes import StoreWrites


class ServerStore(StoreWrites):
    def __init__(self, url: str, database: str, read_only: bool = False):
        from clickhouse_driver import Client
        from clickhouse_driver.errors import Error as DriverError
        from clickhouse_driver.util.helpers import parse_url

        # The driver logs each failed connect with a traceback before raising; we report the error ourselves.
        logging.getLogger("clickhouse_driver.connection").setLevel(logging.CRITICAL)
        self._driver_error = DriverError
        self.database = database
        self._settings = {"readonly": 2} if read_only else {}
        # One client per store, used from one thread: the native protocol is synchronous.
        # server_side_params: bind {name:Type} parameters on the server, exactly as chDB does.
        host, options = parse_url(url)
        options["settings"] = {**options.get("settings", {}), "server_side_params": True}
        self._client = Client(host, **options)
        self._call(self._client.execute, "SELECT 1")  # fail now, with a clear message, if unreachable

    def insert_columns(self, table: str, column_types: Sequence[tuple[str, str]], columns: list[list], /,
                       dedup_token: str = "") -> None:
        names = ", ".join(name for name, _ in column_types)
        statement = f"INSERT INTO {self.database}.{table} ({names}) VALUES"
        settings = {**DEDUP_SETTINGS, "insert_deduplication_token": dedup_token} if dedup_token else {}
        self._call(self._client.execute, statement, columns, columnar=True, settings=settings)

    def command(self, sql: str, params: dict[str, Any] | None = None, /) -> None:
        self._call(self._client.execute, sql, params or {}, settings=self._settings)

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]:
        """Rows as dicts, values shaped like chDB's JSON output (Decimals and times as strings)."""
        rows, columns = self._call(
            self._client.execute, sql, params or {}, with_column_types=True, settings=self._settings
        )
        names = [name for name, _ in columns]
        return [{name: _json_value(value) for name, value in zip(names, row)} for row in rows]

    def close(self) -> None:
        self._client.disconnect()

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (self._driver_error, OSError, EOFError) as exc:
            raise StoreError(f"ClickHouse server: {str(exc).strip().splitlines()[0]}") from exc


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value
