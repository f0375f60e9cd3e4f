"""Run one guarded query: a fresh read-only session, our limits, the tenant's rows only, a concurrency cap.

`execute` blocks (chDB releases the GIL while it works); callers run it in a worker thread. A slot is
held until chDB returns, not until the client does: a query whose client went away still counts against
the cap until `max_execution_time` ends it (chDB cannot cancel a running query).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from otel_llmcost.config import Settings
from otel_llmcost.query import guard, native
from otel_llmcost.query.clientsettings import Limits, classify, limit_statements
from otel_llmcost.query.errors import ACCESS_DENIED, QueryError
from otel_llmcost.query.scope import METADATA_DATABASES, Principal
from otel_llmcost.store.policies import sql_string
from otel_llmcost.store.reader import EngineError, ReadSession, TableInfo

TOO_MANY_SIMULTANEOUS_QUERIES = 202


@dataclass(frozen=True, slots=True)
class QueryRequest:
    sql: str
    who: Principal
    output_format: str = "TabSeparated"  # default_format; a trailing FORMAT wins
    database: str | None = None
    params: dict[str, str] = field(default_factory=dict)  # {name:Type} query parameters, as text
    settings: dict[str, str] = field(default_factory=dict)  # what the client sent
    client_revision: int = 0  # Native layout asked for (client_protocol_version)


@dataclass(frozen=True, slots=True)
class QueryResult:
    body: bytes
    output_format: str
    rows_read: int
    bytes_read: int
    elapsed_seconds: float
    database: str


class QueryEngine:
    def __init__(self, chdb_path: str, database: str, limits: Limits, max_concurrent: int, queue_seconds: float):
        self.chdb_path = chdb_path
        self.database = database
        self.limits = limits
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._running = 0  # queries holding a slot now
        self._count_lock = threading.Lock()
        self.max_waiting = max_concurrent * 4  # requests beyond this are refused without waiting
        self._queue_seconds = queue_seconds
        self._static: tuple[frozenset[str], frozenset[str]] | None = None  # system tables, table functions

    def execute(self, request: QueryRequest) -> QueryResult:
        if not self._slots.acquire(timeout=self._queue_seconds):
            raise QueryError(TOO_MANY_SIMULTANEOUS_QUERIES, "Too many simultaneous queries; retry shortly")
        self._count(1)
        try:
            session = ReadSession(self.chdb_path, self.database, every_tenant=request.who.is_admin)
            try:
                return self._run(session, request)
            finally:
                session.close()
        except EngineError as exc:
            message = exc.message if request.who.is_admin else tenant_message(exc.code, exc.message)
            raise QueryError(exc.code, message, exc.name or None) from exc
        finally:
            self._count(-1)
            self._slots.release()

    @property
    def running(self) -> int:
        return self._running

    def _count(self, change: int) -> None:
        with self._count_lock:
            self._running += change

    def server_info(self) -> dict[str, str]:
        """What the engine says it is (the answers to displayName(), version(), timezone())."""
        session = ReadSession(self.chdb_path, self.database, every_tenant=True)
        try:
            name, version, timezone = session.run("SELECT displayName(), version(), timezone()").decode().split()
        finally:
            session.close()
        return {"display_name": name, "version": version, "timezone": timezone}

    def _run(self, session: ReadSession, request: QueryRequest) -> QueryResult:
        current_db = self._current_database(request.database)
        settings = {name: value for name, value in
                    ((n, classify(n, v, self.limits)) for n, v in request.settings.items()) if value is not None}
        # The client's settings come after the guard's own queries: `limit`, say, must not cut the catalog
        # that decides which tables a tenant may read.
        canonical = session.single_line(request.sql)  # fails on more than one statement
        tables = session.catalog(self.database)
        ast = session.explain_ast(canonical, request.params)
        statement = guard.check(ast, canonical, self._catalog(session, tables), request.who, current_db, self.limits)
        applied = {**limit_statements(self.limits), **{n: _setting_literal(v) for n, v in settings.items()}}
        session.run("SET " + ", ".join(f"{name} = {value}" for name, value in applied.items()))
        if not request.who.is_admin:
            session.scope_to(request.who.tenant or "")  # last: the tenant profile's lock checks every SET
        session.run(f"USE {current_db}")
        output_format = statement.output_format or request.output_format
        body, stats = session.run_with_stats(canonical, output_format, request.params)
        if output_format == "Native" and request.client_revision > 0:
            body = native.at_revision(body, request.client_revision,
                                      lambda: _result_types(session, canonical, request.params))
        return QueryResult(body, output_format, *stats, current_db)

    def _current_database(self, requested: str | None) -> str:
        """The project database unless the client names system metadata; `default` means ours here."""
        if requested in (None, "", "default", self.database):
            return self.database
        if requested == "system" or requested in METADATA_DATABASES:
            return requested
        raise QueryError(ACCESS_DENIED, f"database {requested} is not readable here; use {self.database}")

    def _catalog(self, session: ReadSession, tables: list[TableInfo]) -> guard.Catalog:
        if self._static is None:  # fixed for the engine's life
            self._static = (session.names("SELECT name FROM system.tables WHERE database = 'system'"),
                            session.names("SELECT lower(name) FROM system.table_functions"))
        return guard.Catalog(self.database, {table.name: table for table in tables}, *self._static)


def _result_types(session: ReadSession, canonical: str, params: dict[str, str]) -> list[str]:
    """The result's column types, time zones included (chDB's revision-0 Native drops a top-level
    DateTime's); [] for a statement DESCRIBE cannot wrap (SHOW, EXISTS, ...): its types stay as written."""
    try:
        text = session.run(f"DESCRIBE TABLE ({canonical})", "JSONEachRow", params).decode()
    except EngineError:
        return []
    return [json.loads(line)["type"] for line in text.splitlines() if line]


# Limit errors whose text counts rows or bytes read: reads before the row policy's filter include other
# tenants' rows in the same granules, so a tenant gets the limit's name, not the count.
_VOLUME_ERRORS = {
    158: "Limit for rows to read exceeded (max_rows_to_read)",
    307: "Limit for bytes to read exceeded (max_bytes_to_read)",
    241: "Memory limit (for query) exceeded (max_memory_usage): narrow the query",
}


def tenant_message(code: int, message: str) -> str:
    """What a tenant key is told of an engine error: counts of storage reads are left out."""
    return _VOLUME_ERRORS.get(code, message)


def _setting_literal(value: str) -> str:
    """A client's setting value, as a literal that cannot end the SET statement early."""
    text = value.strip()
    return text if text.replace(".", "", 1).isdigit() else sql_string(text.strip("'"))


def engine_for(settings: Settings, max_concurrent: int | None = None) -> QueryEngine:
    """The engine over the embedded store with the configured limits (query.*)."""
    config = settings.query
    limits = Limits(config.max_execution_time, config.max_result_rows, config.max_result_bytes,
                    config.max_memory_usage, config.max_threads)
    return QueryEngine(settings.chdb_path, settings.store.database, limits,
                       max_concurrent or config.max_concurrent_queries, config.queue_seconds)
