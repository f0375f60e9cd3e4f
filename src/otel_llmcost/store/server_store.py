"""ClickHouse server store over the native protocol (clickhouse-driver); same DDL and SQL as chDB.

A fresh server has no `llmcost` database, and the driver cannot connect to a database that does not exist:
the receiver then creates it over a connection without one, and connects again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from otel_llmcost.errors import StoreError
from otel_llmcost.store import migrations
from otel_llmcost.store.failures import ENCODING_ERRORS, is_data_error_code
from otel_llmcost.store.schema import DEDUP_SETTINGS
from otel_llmcost.store.writes import StoreWrites

_UNKNOWN_DATABASE = 81  # ClickHouse's error code for a database that does not exist


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
        try:
            self._call(self._client.execute, "SELECT 1")  # fail now, with a clear message, if unreachable
        except StoreError as exc:
            if read_only or getattr(exc.__cause__, "code", None) != _UNKNOWN_DATABASE:
                raise
            bootstrap_options, statement = database_bootstrap(options, database)
            bootstrap = Client(host, **bootstrap_options)
            try:
                self._call(bootstrap.execute, statement)
            finally:
                bootstrap.disconnect()
            self._call(self._client.execute, "SELECT 1")

    def insert_columns(self, table: str, column_types: Sequence[tuple[str, str]], columns: list[list], /,
                       dedup_token: str = "") -> None:
        names = ", ".join(name for name, _ in column_types)
        statement = f"INSERT INTO {self.database}.{table} ({names}) VALUES"
        settings = {**DEDUP_SETTINGS, "insert_deduplication_token": dedup_token} if dedup_token else {}
        try:
            self._call(self._client.execute, statement, columns, columnar=True, settings=settings)
        except ENCODING_ERRORS as exc:  # the driver encodes the columns itself
            raise StoreError(f"rows cannot be encoded: {exc}", retryable=False) from exc

    def command(self, sql: str, params: dict[str, Any] | None = None, /) -> None:
        self._call(self._client.execute, sql, params or {}, settings=self._settings)

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]:
        """Rows as dicts, values shaped like chDB's JSON output (Decimals and times as strings)."""
        rows, columns = self._call(
            self._client.execute, sql, params or {}, with_column_types=True, settings=self._settings
        )
        names = [name for name, _ in columns]
        return [{name: _json_value(value) for name, value in zip(names, row, strict=True)} for row in rows]

    def close(self) -> None:
        self._client.disconnect()

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (self._driver_error, OSError, EOFError) as exc:
            permanent = is_data_error_code(getattr(exc, "code", None))
            raise StoreError(f"ClickHouse server: {one_line(exc)}", not permanent) from exc


def database_bootstrap(options: dict[str, Any], database: str) -> tuple[dict[str, Any], str]:
    """Connection options without the database (the server's default), and the statement creating it."""
    statement = migrations.BOOTSTRAP.statements(migrations.SchemaOptions(database))[0]
    return {name: value for name, value in options.items() if name != "database"}, statement


def one_line(exc: BaseException) -> str:
    """A driver error as one line: the server's `Code: 81.` and its message, without the stack trace."""
    text = " ".join(line.strip() for line in str(exc).split("Stack trace:")[0].splitlines() if line.strip())
    return text.rstrip(". ") or type(exc).__name__


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value
