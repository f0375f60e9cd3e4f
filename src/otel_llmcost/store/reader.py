"""Read-only chDB sessions for the query interface: a fresh connection per request, beside the writer.

`chdb.connect("file:<path>?mode=ro")` in the receiver's process shares the writer's engine (one engine per
path) and opens in about a millisecond, so no session, `SET` or temporary table outlives its request. An
admin session reads every tenant; any other reads no tenant's rows until `scope_to` (store/policies.py).
chDB releases the GIL while a query runs, so sessions run in worker threads. chDB cannot cancel a running
query: `max_execution_time` is what bounds one whose client went away.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from otel_llmcost.errors import StoreError
from otel_llmcost.store.chdb_store import import_chdb
from otel_llmcost.store.policies import (
    ALL_TENANTS,
    CARRIER,
    TENANT_SETTINGS,
    connection_string,
    sql_string,
    tenant_profile,
)

# The innermost "Code: N. DB::Exception: message (NAME)": chDB sometimes wraps one error in another.
_CODE = re.compile(r"Code: (\d+)\. DB::Exception: (?!.*Code: \d+\. DB::Exception)(.*)", re.S)
_TAIL = re.compile(r"(?: \(([A-Z_0-9]+)\))?(?: \(version [^)]*\))?\.?\s*$")


ACCESS_DENIED = 497
THERE_IS_NO_PROFILE = 180


class EngineError(StoreError):
    """An error chDB raised, with ClickHouse's code and name."""

    def __init__(self, code: int, name: str, message: str):
        super().__init__(message)
        self.code, self.name, self.message = code, name, message  # name "" when chDB gave none


@dataclass(frozen=True, slots=True)
class TableInfo:
    database: str
    name: str
    engine: str


class ReadSession:
    """One read-only connection, used for one request and closed. `every_tenant`: an admin's session."""

    def __init__(self, path: str, database: str, every_tenant: bool):
        chdb = import_chdb()

        self._chdb_error = chdb.ChdbError
        self._database = database
        try:
            self._conn = chdb.connect(connection_string(path, database, read_only=True, all_tenants=every_tenant))
        except (chdb.ChdbError, RuntimeError) as exc:
            raise _engine_error(exc) from exc

    def scope_to(self, tenant: str) -> None:
        """From now on this session reads `tenant`'s rows only, and nothing can change that; call it after
        the session's own SETs (which the profile's constraint then checks too)."""
        if tenant == ALL_TENANTS or not tenant:
            raise EngineError(ACCESS_DENIED, "ACCESS_DENIED", f"{tenant!r} cannot be a tenant")
        fixed = "".join(f", {name} = {value}" for name, value in TENANT_SETTINGS.items())
        self.run(f"SET {CARRIER} = {sql_string(tenant)}{fixed}")
        try:
            self.run(f"SET profile = {sql_string(tenant_profile(self._database))}")
        except EngineError as exc:
            if exc.code != THERE_IS_NO_PROFILE:
                raise
            raise EngineError(ACCESS_DENIED, "ACCESS_DENIED", "tenant row policies are not loaded in this process's "
                              "engine (it was started without this build's policy file): tenant queries are "
                              "refused; restart the receiver") from exc
        if self.run(f"SELECT getSetting({sql_string(CARRIER)})").decode().rstrip("\n") != tenant:
            raise EngineError(ACCESS_DENIED, "ACCESS_DENIED", "the session's tenant did not hold: query refused")

    def run(self, sql: str, fmt: str = "TSVRaw", params: dict[str, str] | None = None) -> bytes:
        try:
            result = self._conn.query(sql, fmt, params=params or None)
        except (self._chdb_error, RuntimeError) as exc:
            raise _engine_error(exc) from exc
        return result.bytes() if hasattr(result, "bytes") else b""

    def run_with_stats(self, sql: str, fmt: str, params: dict[str, str]) -> tuple[bytes, tuple[int, int, float]]:
        """The answer and (rows read, bytes read, seconds) for ClickHouse's X-ClickHouse-Summary."""
        try:
            result = self._conn.query(sql, fmt, params=params or None)
        except (self._chdb_error, RuntimeError) as exc:
            raise _engine_error(exc) from exc
        return result.bytes(), (result.rows_read(), result.bytes_read(), result.elapsed())

    def stream(self, sql: str, fmt: str, params: dict[str, str]) -> Chunks:
        """The answer chunk by chunk (a few hundred KB each), fetched as they are asked for."""
        try:
            return Chunks(self._conn.send_query(sql, fmt, params=params or None), self._chdb_error)
        except (self._chdb_error, RuntimeError) as exc:
            raise _engine_error(exc) from exc

    def kill(self, marker: str) -> None:
        """Cancel the running queries whose text starts with `marker` (another session's; chDB stops them
        within a block, where a streaming cancel waits for the query to end)."""
        ids = self.run("SELECT query_id FROM system.processes WHERE startsWith(query, {m:String})", "TSVRaw",
                       {"m": marker}).decode().split()
        for query_id in ids:
            self.run("KILL QUERY WHERE query_id = {id:String} ASYNC", "TSVRaw", {"id": query_id})

    def explain_ast(self, sql: str, params: dict[str, str]) -> str:
        return self.run(f"EXPLAIN AST {sql}", "TSVRaw", params).decode("utf-8", "replace")

    def single_line(self, sql: str) -> str:
        """The statement in ClickHouse's canonical form; fails (code 62) on more than one statement."""
        text = self.run("SELECT formatQuerySingleLine({q:String})", "TSVRaw", {"q": escaped_text(sql)})
        return text.decode().rstrip("\n")

    def single_line_and_tables(self, sql: str, database: str) -> tuple[str, list[TableInfo]]:
        """`single_line(sql)` and the tables of `database` with their engines, in one statement (read per
        request: the schema may change while the receiver runs)."""
        try:
            text = self.run("SELECT formatQuerySingleLine({q:String}) AS q, (SELECT groupArray((name, engine)) FROM "
                            "system.tables WHERE database = {db:String}) AS t", "JSONEachRow",
                            {"q": escaped_text(sql), "db": database}).decode()
        except EngineError:
            self.single_line(sql)  # the error as single_line words it (its text quotes the statement run)
            raise
        row = json.loads(text)
        return row["q"], [TableInfo(database, name, engine) for name, engine in row["t"]]

    def names(self, sql: str) -> frozenset[str]:
        """The first column of a query, as a set of names (system tables, table functions)."""
        return frozenset(self.run(sql).decode().split())

    def close(self) -> None:
        self._conn.close()


class Chunks:
    """A streaming answer: `fetch` gives (bytes, (rows, bytes read, seconds)) per chunk, then None."""

    def __init__(self, stream: Any, chdb_error: type[Exception]) -> None:  # chdb's StreamingResult
        self._stream, self._chdb_error = stream, chdb_error

    def fetch(self) -> tuple[bytes, tuple[int, int, float]] | None:
        try:
            chunk = self._stream.fetch()
        except (self._chdb_error, RuntimeError) as exc:
            raise _engine_error(exc) from exc
        if chunk is None:
            return None
        return chunk.bytes(), (chunk.rows_read(), chunk.bytes_read(), chunk.elapsed())

    def close(self) -> None:
        """Stop between chunks (a client that went away); a no-op once the answer ended."""
        try:
            self._stream.cancel()
        except (self._chdb_error, RuntimeError):
            pass  # the query already failed or ended


def escaped_text(value: str) -> str:
    """A String query parameter as ClickHouse reads parameter text (escaped, like TabSeparated)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _engine_error(exc: Exception) -> EngineError:
    text = str(exc).strip()
    match = _CODE.search(text)
    if not match:
        return EngineError(1001, "STD_EXCEPTION", text.splitlines()[0] if text else "unknown chDB error")
    message, name = match.group(2).strip(), ""
    while (tail := _TAIL.search(message)) and tail.start() < len(message):  # "(NAME) (version x)." twice
        name = name or tail.group(1) or ""
        message = message[: tail.start()].strip()
    return EngineError(int(match.group(1)), name, message)
