"""The HTTP listening sockets (OTLP/HTTP, the query listener): bound before the pipeline starts (a busy port
fails fast, cleanly), TLS when configured, and a cap on open connections so idle clients cannot exhaust file
descriptors; each app served from its own event-loop thread."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading

from aiohttp import web

from otel_llmcost.config import ReceiverSettings
from otel_llmcost.errors import ListenError

_FULL = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def bind_socket(host: str, port: int, protocol: str = "OTLP/HTTP") -> socket.socket:
    """A listening socket; ListenError (one line) when the address is taken or not this host's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not REUSEPORT: the port is ours alone
    if family == socket.AF_INET6 and host in ("::", "[::]"):
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # "every interface" takes IPv4 clients too
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen for {protocol} on {host}:{port}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


def server_ssl_context(settings: ReceiverSettings) -> ssl.SSLContext | None:
    if not settings.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    if settings.tls_client_ca_file:
        context.load_verify_locations(settings.tls_client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class CappedSite(web.BaseSite):
    """A site on a bound socket with at most `max_connections` open connections: a new connection beyond
    them closes the oldest, so a flood of idle connections cannot lock exporters out (an export cut off
    was not acknowledged: its exporter retries it). With twice as many still closing, new ones get 503."""

    def __init__(self, runner: web.AppRunner, sock: socket.socket, settings: ReceiverSettings):
        super().__init__(runner, ssl_context=server_ssl_context(settings))
        self._sock = sock
        self._max_connections = settings.max_connections
        self._handshake_timeout = settings.read_timeout_seconds
        # Counted from the protocol's creation (aiohttp registers a connection only later, in a callback,
        # after a whole backlog may have been accepted) to its connection_lost. Oldest first.
        self._open: dict[_Counted, None] = {}
        self._closing: set[_Counted] = set()

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        host, port = self._sock.getsockname()[:2]
        return f"{scheme}://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self._protocol, sock=self._sock, ssl=self._ssl_context,
            ssl_handshake_timeout=self._handshake_timeout if self._ssl_context else None,
        )

    def _protocol(self) -> asyncio.Protocol:
        if len(self._open) + len(self._closing) >= 2 * self._max_connections:
            return _Refusal()
        if len(self._open) >= self._max_connections:
            oldest = next(iter(self._open))
            del self._open[oldest]
            self._closing.add(oldest)
            oldest.evict()
        server = self._runner.server
        if server is None:
            raise RuntimeError("the site started before its runner was set up")
        counted = _Counted(server(), self)
        self._open[counted] = None
        return counted

    def _lost(self, connection: _Counted) -> None:
        self._open.pop(connection, None)
        self._closing.discard(connection)


class _Refusal(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _refuse(transport)


def _refuse(transport: asyncio.BaseTransport) -> None:
    if isinstance(transport, asyncio.WriteTransport):  # a socket's transport always is
        transport.write(_FULL)
    transport.close()


class _Counted(asyncio.Protocol):
    """aiohttp's protocol, telling the site when its connection ends, and closable by the site."""

    def __init__(self, inner, site: CappedSite):
        self._inner = inner
        self._site = site
        self._connected = self._evicted = False

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def evict(self) -> None:
        self._evicted = True
        if self._connected:
            self._inner.force_close()  # aiohttp's close() would leave an idle connection open

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._evicted:  # evicted while its accept was still pending: aiohttp never sees it
            _refuse(transport)
            return
        self._connected = True
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self):
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._site._lost(self)
        if self._connected:
            self._inner.connection_lost(exc)


class ServedApp:
    """An aiohttp app served from its own event-loop thread on a bound socket, through a CappedSite."""

    def __init__(self, app: web.Application, sock: socket.socket, settings: ReceiverSettings, thread_name: str,
                 **runner_options):
        self._sock, self._settings = sock, settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=thread_name, daemon=True)
        self._runner = web.AppRunner(app, **runner_options)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _start(self) -> None:
        await self._runner.setup()
        await CappedSite(self._runner, self._sock, self._settings).start()
