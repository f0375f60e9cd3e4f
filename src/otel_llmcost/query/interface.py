"""ClickHouse's HTTP interface, read-only, over the embedded store, on its own listener (default :8123).

What Grafana's ClickHouse data source (protocol http), clickhouse-connect and @clickhouse/client send:
`GET /ping`, `GET /?query=`, `POST /` with the query in the URL and/or the body (joined by a newline, as
ClickHouse does), `database`, `default_format`, `query_id`, `client_protocol_version`, `param_<name>` for
`{name:Type}` parameters, any other URL parameter as a setting (see clientsettings). Answers carry
ClickHouse's X-ClickHouse-* headers; errors read `Code: N. DB::Exception: ... (NAME)` with the status
ClickHouse gives that code and `X-ClickHouse-Exception-Code`. gzip answers when the client accepts gzip
and sends enable_http_compression=1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from otel_llmcost.alerts.ledger import SpendLedger
from otel_llmcost.alerts.rules import AlertRules, load_alert_rules
from otel_llmcost.config import ReceiverSettings, Settings
from otel_llmcost.keys import KeyStore
from otel_llmcost.query import api, budget_api
from otel_llmcost.query.access import Gate
from otel_llmcost.query.answer import Answer, QueryResult
from otel_llmcost.query.errors import QueryError
from otel_llmcost.query.executor import TOO_MANY_SIMULTANEOUS_QUERIES, QueryEngine, QueryRequest, engine_for
from otel_llmcost.query.scope import Principal
from otel_llmcost.query.sending import in_worker, send_stream, summary
from otel_llmcost.receive.listener import ServedApp, bind_socket

logger = logging.getLogger(__name__)

_INTERFACE_PARAMS = frozenset({"query", "database", "default_format", "query_id", "client_protocol_version",
                               "user", "password"})
_CONTENT_TYPES = {
    "Native": "application/octet-stream", "RowBinary": "application/octet-stream",
    "RowBinaryWithNamesAndTypes": "application/octet-stream", "Arrow": "application/octet-stream",
    "Parquet": "application/octet-stream", "JSON": "application/json", "JSONCompact": "application/json",
    "JSONEachRow": "application/x-ndjson", "JSONCompactEachRow": "application/x-ndjson", "CSV": "text/csv",
    "CSVWithNames": "text/csv", "TabSeparated": "text/tab-separated-values",
}
_MAX_QUERY_BYTES = 16 * 1024 * 1024
_SHUTDOWN_SECONDS = 5.0


class QueryListener:
    """Bound at construction (a port in use is a one-line error before anything starts). With the receiver's
    TLS certificate, HTTPS; its client CAs do not apply here (these clients authenticate with API keys). The
    receiver's connection cap and read timeout hold here too."""

    def __init__(self, engine: QueryEngine, gate: Gate, host: str, port: int, server_info: dict[str, str],
                 receiver: ReceiverSettings | None = None, alert_rules: AlertRules | None = None,
                 ledger: SpendLedger | None = None, bound: socket.socket | None = None):
        self._engine, self._gate = engine, gate
        self._site_settings = dataclasses.replace(receiver or ReceiverSettings(), tls_client_ca_file=None)
        self._socket = bound or bind_socket(host, port, "the ClickHouse HTTP interface")
        self.port = self._socket.getsockname()[1]
        self._server = server_info  # display name, version, timezone (from the engine, asked once)
        self._workers = ThreadPoolExecutor(max_workers=engine.max_waiting, thread_name_prefix="llmcost-sql")
        self._in_flight = 0
        app = web.Application(client_max_size=_MAX_QUERY_BYTES)
        app.router.add_get("/ping", self._ping)
        app.router.add_route("*", "/", self._query)
        api.add_routes(app, self)
        if ledger is not None:  # the receiver's (serve): budget status needs the spend its inserts recorded
            budget_api.add_routes(app, self, alert_rules or AlertRules(), ledger)
        self._served = ServedApp(app, self._socket, self._site_settings, "query-http", access_log=None,
                                 shutdown_timeout=_SHUTDOWN_SECONDS,
                                 keepalive_timeout=self._site_settings.read_timeout_seconds)

    def start(self) -> None:
        self._served.start()

    def stop(self) -> None:
        """Running queries are killed first, so a stop takes a block of work, not max_execution_time."""
        self._engine.cancel_all()
        self._served.stop()
        self._workers.shutdown(wait=False, cancel_futures=True)

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    @property
    def database(self) -> str:
        return self._engine.database

    def admit(self, request: web.Request) -> Principal:
        return self._gate.admit(request.headers, dict(request.query), request.remote)

    async def run(self, query: QueryRequest, request: web.Request | None = None) -> QueryResult:
        """The whole answer (the named endpoints); refused at once when every worker is busy or waiting."""
        answer = await self.open(query, request)
        try:
            return await in_worker(self._workers, answer.whole, lambda: self._engine.cancel(query.token), request)
        finally:
            answer.close()

    async def open(self, query: QueryRequest, request: web.Request | None) -> Answer:
        """The query started on a worker thread, its first chunk fetched; the caller must close the answer."""
        if self._in_flight >= self._engine.max_waiting:
            raise QueryError(TOO_MANY_SIMULTANEOUS_QUERIES, "Too many simultaneous queries; retry shortly")
        self._in_flight += 1
        try:
            return await in_worker(self._workers, lambda: self._engine.open(query),
                                   lambda: self._engine.cancel(query.token), request)
        finally:
            self._in_flight -= 1

    async def _query(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        query_id = params.get("query_id") or str(uuid.uuid4())
        if request.method == "GET" and "query" not in params:
            return web.Response(text="Ok.\n")  # ClickHouse's root handler: a liveness answer, no credentials
        answer = None
        try:
            if not query_id.isprintable():  # it goes back in a header: no CR/LF or other controls
                query_id = str(uuid.uuid4())
                raise QueryError(36, "query_id must be printable text")
            who = self.admit(request)
            if request.method not in ("GET", "POST"):
                raise QueryError(1, f"HTTP method {request.method} is not supported; use GET or POST")
            sql = await _query_text(request, params)
            if not sql.strip():
                return web.Response(text="Ok.\n")
            query = QueryRequest(
                sql=sql, who=who, output_format=params.get("default_format") or "TabSeparated",
                database=params.get("database"),
                params={name[6:]: value for name, value in params.items() if name.startswith("param_")},
                settings={name: value for name, value in params.items()
                          if name not in _INTERFACE_PARAMS and not name.startswith("param_")},
                client_revision=_revision(params.get("client_protocol_version")),
            )
            answer = await self.open(query, request)
            response = web.StreamResponse(headers={
                **self._headers(query_id, answer.output_format), "X-ClickHouse-Summary": summary(answer),
                "Content-Type": _CONTENT_TYPES.get(answer.output_format, "text/plain")})
            gzip = params.get("enable_http_compression") == "1" and "gzip" in request.headers.get("Accept-Encoding", "")
            return await send_stream(request, response, answer, gzip, lambda: in_worker(
                self._workers, answer.next_chunk, lambda: self._engine.cancel(query.token), request))
        except QueryError as exc:
            return self._error(exc, query_id)
        except ConnectionError:  # the client left while we wrote: nobody to answer
            raise
        except Exception:
            logger.exception("query failed")
            return self._error(QueryError(1001, "internal error in the query interface"), query_id)
        finally:
            if answer is not None:
                await asyncio.get_running_loop().run_in_executor(None, answer.close)

    def _headers(self, query_id: str, output_format: str | None = None) -> dict[str, str]:
        headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Timezone": self._server["timezone"],
                   "X-ClickHouse-Server-Display-Name": self._server["display_name"]}
        if output_format:
            headers["X-ClickHouse-Format"] = output_format
        return headers

    def _error(self, exc: QueryError, query_id: str) -> web.Response:
        response = web.Response(status=exc.status, text=exc.clickhouse_text(), content_type="text/plain")
        response.headers.update(self._headers(query_id))
        response.headers["X-ClickHouse-Exception-Code"] = str(exc.code)
        if exc.code == TOO_MANY_SIMULTANEOUS_QUERIES:
            response.headers["Retry-After"] = "1"
        return response


async def _query_text(request: web.Request, params: dict[str, str]) -> str:
    """ClickHouse's rule: the URL's `query`, a newline, then the body (chunked bodies arrive decoded)."""
    body = b""
    if request.method == "POST":
        if request.headers.get("Content-Encoding", "identity").lower() not in ("", "identity"):
            raise QueryError(1, "compressed request bodies are not supported; send the query as plain text")
        if request.content_type.startswith("multipart/"):
            raise QueryError(1, "multipart requests (external tables) are not supported")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise QueryError(1, f"query over {_MAX_QUERY_BYTES} bytes") from None
    parts = [params["query"]] if "query" in params else []
    if body:
        parts.append(body.decode("utf-8", "replace"))
    return "\n".join(parts)


def _revision(text: str | None) -> int:
    try:
        return max(0, int(text or 0))
    except ValueError:
        raise QueryError(36, f"client_protocol_version must be a number, got {text!r}") from None


def open_query_listener(settings: Settings, keys: KeyStore, local_secret: str, ledger: SpendLedger,
                        bound: socket.socket | None = None, alert_rules: AlertRules | None = None) -> QueryListener:
    """The listener `serve` runs beside the OTLP receivers (embedded store only: a server has its own), in the
    process holding the store; `ledger`: the spend its inserts record (budget status); `bound`: its socket,
    bound before the store opened (a client connecting meanwhile is answered once the listener starts);
    `alert_rules`: alerts.file's, loaded already (default: loaded here)."""
    engine = engine_for(settings)
    gate = Gate(keys, local_secret, settings.query.require_keys)
    rules = alert_rules if alert_rules is not None else load_alert_rules(settings.alerts.file)
    return QueryListener(engine, gate, settings.query.host, settings.query.port, engine.server_info(),
                         settings.receiver, rules, ledger, bound)
