"""Run one guarded query: a fresh read-only session, our limits, the tenant's rows only, concurrency caps.

`open` blocks (chDB releases the GIL while it works); callers run it and the answer's `next_chunk` in
worker threads. A slot (the listener's and its key's) is held while the query runs: until a streamed
answer's last chunk, or until a whole answer is made. `cancel` ends a running query whose client went
away (KILL QUERY by a marker at the head of its text: chDB stops it within a block), and `cancel_all` every
one at shutdown.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from otel_llmcost.config import Settings
from otel_llmcost.query import guard, native
from otel_llmcost.query.answer import STREAMED_FORMATS, Answer, QueryResult, SpilledChunks
from otel_llmcost.query.clientsettings import Limits, classify, limit_statements
from otel_llmcost.query.errors import ACCESS_DENIED, SYNTAX_ERROR, QueryError
from otel_llmcost.query.scope import METADATA_DATABASES, Principal
from otel_llmcost.query.slots import TOO_MANY_SIMULTANEOUS_QUERIES, Slots
from otel_llmcost.store.policies import sql_string
from otel_llmcost.store.reader import EngineError, ReadSession, TableInfo

__all__ = ["TOO_MANY_SIMULTANEOUS_QUERIES", "QueryEngine", "QueryRequest", "QueryResult", "engine_for"]
QUERY_WAS_CANCELLED, BAD_QUERY_PARAMETER = 394, 457
_LEFTOVER_SECONDS = 86_400
_TRAILING_FORMAT = re.compile(r"\s+FORMAT\s+`?[A-Za-z_][A-Za-z0-9_]*`?\s*$", re.IGNORECASE)
_SELECTS = frozenset({"SelectWithUnionQuery", "SelectIntersectExceptQuery"})  # what chDB streams
_BINARY_TYPES = "output_format_native_encode_types_in_binary_format"


@dataclass(frozen=True, slots=True)
class QueryRequest:
    sql: str
    who: Principal
    output_format: str = "TabSeparated"  # default_format; a trailing FORMAT wins
    database: str | None = None
    params: dict[str, str] = field(default_factory=dict)  # {name:Type} query parameters, as text
    settings: dict[str, str] = field(default_factory=dict)  # what the client sent
    client_revision: int = 0  # Native layout asked for (client_protocol_version)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # names the running query for `cancel`


class QueryEngine:
    def __init__(self, chdb_path: str, database: str, limits: Limits, max_concurrent: int, queue_seconds: float,
                 per_key: int = 1):
        self.chdb_path = chdb_path
        self.database = database
        self.limits = limits
        self._slots = Slots(max_concurrent, per_key, queue_seconds)
        # Whole answers chDB writes for us (answer.py), deleted once sent; a crash's leftovers go a day later.
        self._spill_dir = os.path.join(os.path.dirname(os.path.abspath(chdb_path)), "query-answers")
        os.makedirs(self._spill_dir, mode=0o700, exist_ok=True)
        for entry in os.scandir(self._spill_dir):
            if entry.stat().st_mtime < time.time() - _LEFTOVER_SECONDS:
                os.unlink(entry.path)
        self.max_waiting = max_concurrent * 4  # requests beyond this are refused without waiting
        self._static: tuple[frozenset[str], frozenset[str]] | None = None  # system tables, table functions
        self._running: set[str] = set()  # tokens of the queries running now
        self._cancelled: set[str] = set()  # of those, the ones whose client went away
        self._closing = False
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        return self._slots.running

    def execute(self, request: QueryRequest) -> QueryResult:
        """The whole answer (for callers that need it whole: the CLI, the named endpoints, tests)."""
        answer = self.open(request)
        try:
            return answer.whole()
        finally:
            answer.close()

    def open(self, request: QueryRequest) -> Answer:
        """The answer, its first chunk fetched; the caller must `close` it."""
        try:
            return self._open(request, binary_types=True)
        except native.TextTypesNeeded:  # a column type native.py does not name: asked for again, types as text
            return self._open(request, binary_types=False)

    def _open(self, request: QueryRequest, binary_types: bool) -> Answer:
        release = self._slots.acquire(request.who.key_id)
        try:
            session = ReadSession(self.chdb_path, self.database, every_tenant=request.who.is_admin)
        except EngineError as exc:
            release()
            raise self._error(request, exc) from exc
        with self._lock:
            self._running.add(request.token)
        ended = threading.Lock()

        def end_query() -> None:
            if not ended.acquire(blocking=False):
                return  # once
            with self._lock:
                self._running.discard(request.token)
                self._cancelled.discard(request.token)
            session.close()
            release()

        try:
            return self._answer(session, request, end_query, binary_types)
        except EngineError as exc:
            end_query()
            raise self._error(request, exc) from exc
        except BaseException:
            end_query()
            raise

    def cancel(self, token: str) -> None:
        """End the running query of `token` (its client went away), if it still runs."""
        with self._lock:
            if token not in self._running:
                return
            self._cancelled.add(token)  # not started yet: it never will be
        killer = ReadSession(self.chdb_path, self.database, every_tenant=True)
        try:
            killer.kill(_marker(token))
        finally:
            killer.close()

    def cancel_all(self) -> None:
        """Every running query ended, and no new one starts (the listener stops)."""
        with self._lock:
            self._closing = True
            tokens = list(self._running)
        for token in tokens:
            self.cancel(token)

    def _error(self, request: QueryRequest, exc: EngineError) -> QueryError:
        message = exc.message if request.who.is_admin else tenant_message(exc.code, exc.message)
        return QueryError(exc.code, message, exc.name or None)

    def server_info(self) -> dict[str, str]:
        """What the engine says it is (the answers to displayName(), version(), timezone())."""
        session = ReadSession(self.chdb_path, self.database, every_tenant=True)
        try:
            name, version, timezone = session.run("SELECT displayName(), version(), timezone()").decode().split()
        finally:
            session.close()
        return {"display_name": name, "version": version, "timezone": timezone}

    def _answer(self, session: ReadSession, request: QueryRequest, end_query: Callable[[], None],
                binary_types: bool) -> Answer:
        current_db = self._current_database(request.database)
        settings = {name: value for name, value in
                    ((n, classify(n, v, self.limits)) for n, v in request.settings.items()) if value is not None}
        # The client's settings come after the guard's own queries: `limit`, say, must not cut the catalog
        # that decides which tables a tenant may read.
        _check_identifier_params(request.sql, request.params)
        canonical, tables = session.single_line_and_tables(request.sql, self.database)  # fails on two statements
        ast = session.explain_ast(canonical, request.params)
        statement = guard.check(ast, canonical, self._catalog(session, tables), request.who, current_db, self.limits)
        output_format = statement.output_format or request.output_format
        streamed = statement.kind in _SELECTS and output_format in STREAMED_FORMATS
        applied = {**limit_statements(self.limits), **{n: _setting_literal(v) for n, v in settings.items()}}
        # chDB's Native drops a top-level DateTime's zone; a client from revision 54337 on gets it from the
        # binary type encoding of a streamed SELECT's own answer (unless the client or the query sets that
        # encoding itself), else from a DESCRIBE of the statement (a second analysis: 10-20 ms measured)
        zoned = output_format == "Native" and request.client_revision >= native.TIME_ZONE_REVISION
        binary = zoned and binary_types and streamed and _BINARY_TYPES not in canonical.lower() + "".join(settings)
        if binary:
            applied[_BINARY_TYPES] = "1"
        session.run("SET " + ", ".join(f"{name} = {value}" for name, value in applied.items()))
        if not request.who.is_admin:
            session.scope_to(request.who.tenant or "")  # last: the tenant profile's lock checks every SET
        session.run(f"USE {current_db}")
        types = _result_types(session, canonical, request.params) if zoned and not binary else None
        sql = f"{_marker(request.token)}{canonical}"
        with self._lock:
            if request.token in self._cancelled or self._closing:
                raise QueryError(QUERY_WAS_CANCELLED, "Query was cancelled: its client went away or we stop")
        if streamed:
            chunks = session.stream(sql, output_format, request.params)
            first = chunks.fetch()
            if first is None:
                return Answer(output_format, current_db, b"", (0, 0, 0.0), end_query)
            try:
                return Answer(output_format, current_db, first[0], first[1], end_query, chunks,
                              request.client_revision, lambda exc: self._error(request, exc), types, binary)
            except native.TextTypesNeeded:
                chunks.close()
                raise
        if statement.kind in _SELECTS and (spilled := self._spill(session, sql, output_format, request)):
            end_query()  # the query is over; its answer is in a file
            return Answer(output_format, current_db, b"", spilled.stats, lambda: None, spilled,
                          request.client_revision, result_types=types)
        body, stats = session.run_with_stats(sql, output_format, request.params)  # metadata: small
        end_query()
        return Answer(output_format, current_db, body, stats, lambda: None, revision=request.client_revision,
                      result_types=types)

    def _spill(self, session: ReadSession, sql: str, output_format: str, request: QueryRequest) -> SpilledChunks | None:
        """The SELECT's answer written by chDB to a file; None when its text does not take INTO OUTFILE
        (a FORMAT before its SETTINGS: the answer is then made in memory, as for metadata)."""
        body = _TRAILING_FORMAT.sub("", sql)
        path = os.path.join(self._spill_dir, f"{request.token}.out")
        try:
            _, stats = session.run_with_stats(f"{body} INTO OUTFILE {sql_string(path)} FORMAT {output_format}",
                                              output_format, request.params)
        except EngineError as exc:
            if os.path.exists(path):
                os.unlink(path)
            if exc.code == SYNTAX_ERROR:
                return None
            raise
        return SpilledChunks(path, stats)

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
    160: "Estimated query execution time is too long (max_execution_time): narrow the query",
}


def tenant_message(code: int, message: str) -> str:
    """What a tenant key is told of an engine error: counts of storage reads are left out."""
    return _VOLUME_ERRORS.get(code, message)


_IDENTIFIER_PARAM = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*Identifier\s*\}", re.IGNORECASE)
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_identifier_params(sql: str, params: dict[str, str]) -> None:
    """`{t:Identifier}` takes one plain name: EXPLAIN AST prints `a.b` as a database and a table, while the
    query reads it as one name, so the guard would check one table and the query read another."""
    for name in _IDENTIFIER_PARAM.findall(sql):
        if name in params and not _PLAIN_NAME.fullmatch(params[name]):
            raise QueryError(BAD_QUERY_PARAMETER, f"parameter {name} (Identifier) must be one plain name (letters, "
                             "digits, _); write {db:Identifier}.{table:Identifier} for a qualified name")


def _marker(token: str) -> str:
    """The head of a query's text that names it in system.processes (KILL QUERY)."""
    return f"/* llmcost-query {token} */ "


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
                       max_concurrent or config.max_concurrent_queries, config.queue_seconds,
                       config.max_concurrent_queries_per_key)
