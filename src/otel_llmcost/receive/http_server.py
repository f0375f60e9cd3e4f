"""OTLP/HTTP: POST /v1/traces on port 4318, protobuf or JSON, optionally gzip-compressed (aiohttp); when
forwarding, POST /v1/metrics and /v1/logs (protobuf or JSON), passed on unchanged (JSON as protobuf, the
destinations' encoding); POST /v1/events, flat events as NDJSON (decode/events.py), answered in JSON with
each bad line's error.

Answers follow the OTLP spec: the response is encoded like the request; 400 for an undecodable body,
401 without a valid API key (once keys are in force), 413 over the size limit (checked after decompression
too), 415 for an unknown content type or encoding, 503 with Retry-After when the receiver is overloaded.
The event loop only moves bytes: decompression, parsing and ingestion run in the executor, so one large or
slow export does not hold up the others. A request's headers and body must arrive within the read timeout.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from aiohttp import web
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse as PB2ExportTraceServiceResponse,
)

from otel_llmcost.config import ReceiverSettings
from otel_llmcost.decode import parse_json
from otel_llmcost.decode.signals import SIGNALS, json_to_protobuf
from otel_llmcost.errors import DecodeError, OverloadedError
from otel_llmcost.keys import ApiKey
from otel_llmcost.model import IngestResult
from otel_llmcost.receive.auth import Unauthenticated
from otel_llmcost.receive.inflate import InflateError, inflate
from otel_llmcost.receive.intake import Intake
from otel_llmcost.receive.listener import ServedApp, bind_socket
from otel_llmcost.receive.ops import OpsSources, add_ops_routes

logger = logging.getLogger(__name__)
T = TypeVar("T")

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_PROTOBUF_TYPES = (_PROTOBUF, "application/protobuf")
_PATHS = ("/v1/traces", "/otlp/v1/traces")  # the second: some SDKs append the path to an /otlp base URL
_RETRY_AFTER_SECONDS = "5"
_SHUTDOWN_SECONDS = 5.0
_REFUSALS = {  # status -> the reason label of llmcost_requests_refused_total
    400: "undecodable", 401: "unauthenticated", 408: "timeout", 413: "too_large", 415: "unsupported", 503: "overloaded",
}


class _HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class HttpReceiver:
    def __init__(self, intake: Intake, host: str, settings: ReceiverSettings, ops: OpsSources):
        self._intake = intake
        self._settings = settings
        self._max_bytes = settings.max_request_bytes
        self._socket: socket.socket = bind_socket(host, settings.http_port)  # fails here if the port is taken
        self.port = self._socket.getsockname()[1]  # the real port when 0 was asked for
        app = web.Application(client_max_size=self._max_bytes)
        for path in _PATHS:
            app.router.add_post(path, self._export)
        app.router.add_post("/v1/events", self._events)
        if intake.forwarding:  # metrics and logs are taken only to be passed on
            for signal in SIGNALS:
                for prefix in ("", "/otlp"):
                    app.router.add_post(f"{prefix}/v1/{signal}", self._pass_through(signal))
        add_ops_routes(app, ops)
        # We decompress ourselves, so the size limit also holds after decompression.
        # On stop, in-flight exports get a few seconds (aiohttp's default is 60); a client cut off retries.
        # keepalive_timeout also closes a connection that never completes its request headers.
        self._served = ServedApp(
            app, self._socket, settings, "otlp-http", auto_decompress=False, access_log=None,
            shutdown_timeout=_SHUTDOWN_SECONDS, keepalive_timeout=settings.read_timeout_seconds,
        )

    def start(self) -> None:
        self._served.start()

    def stop(self) -> None:
        self._served.stop()

    async def _export(self, request: web.Request) -> web.Response:
        return await self._otlp(request, self._accept, _partial_success)

    def _pass_through(self, signal: str):
        async def export(request: web.Request) -> web.Response:
            return await self._otlp(request, partial(self._pass, signal), _empty_response)
        return export

    async def _otlp(self, request: web.Request, work: Callable[[bytes, str, bool, ApiKey | None], T],
                    answer: Callable[[T, str], web.Response]) -> web.Response:
        """One OTLP export: `work` (off the event loop) takes the body as sent, its encoding, whether it is
        JSON and the key; `answer` makes its result the response, encoded like the request."""
        content_type = request.content_type.lower()
        answer_type = _JSON if content_type == _JSON else _PROTOBUF
        try:
            if content_type != _JSON and content_type not in _PROTOBUF_TYPES:
                raise _HttpError(415, f"unsupported content type {content_type!r}; use {_PROTOBUF} or {_JSON}")
            key, raw, encoding = await self._take(request)
            result = await asyncio.get_running_loop().run_in_executor(
                None, work, raw, encoding, content_type == _JSON, key)
        except _HttpError as exc:
            self._intake.refused(_REFUSALS.get(exc.status, str(exc.status)), str(exc))
            return _status_response(exc.status, str(exc), answer_type)
        except OverloadedError as exc:
            return _status_response(503, str(exc), answer_type)
        except Exception:
            logger.exception("OTLP/HTTP export failed")
            return _status_response(503, "internal error while storing spans; retry later", answer_type)
        return answer(result, answer_type)

    async def _events(self, request: web.Request) -> web.Response:
        """Flat events, one JSON object per line: each bad line gets its own error, the others are stored."""
        try:
            key, raw, encoding = await self._take(request)
            result, errors = await asyncio.get_running_loop().run_in_executor(
                None, self._accept_events, raw, encoding, key)
        except _HttpError as exc:
            self._intake.refused(_REFUSALS.get(exc.status, str(exc.status)), str(exc))
            retry = {"Retry-After": _RETRY_AFTER_SECONDS} if exc.status == 503 else None
            return web.json_response({"error": str(exc)}, status=exc.status, headers=retry)
        except OverloadedError as exc:
            return web.json_response({"error": str(exc)}, status=503, headers={"Retry-After": _RETRY_AFTER_SECONDS})
        answer = {"accepted": result.accepted_spans, "rejected": len(errors) + result.rejected_spans,
                  "errors": [{"line": number, "error": reason} for number, reason in errors]}
        if result.message:
            answer["errors"].append({"error": result.message})
        return web.json_response(answer, status=400 if errors and not result.accepted_spans else 200)

    async def _take(self, request: web.Request) -> tuple[ApiKey | None, bytes, str]:
        """What every POST here starts with: its key checked, its body read, its encoding one we can undo."""
        try:
            key = self._intake.authenticator.check(request.headers.get("Authorization"))
        except Unauthenticated as exc:
            raise _HttpError(401, str(exc)) from exc
        except OverloadedError as exc:  # the key file is unreadable for now
            raise _HttpError(503, str(exc)) from exc
        raw = await self._read(request)
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity", "gzip", "deflate"):
            raise _HttpError(415, f"unsupported content encoding {encoding!r}; use gzip")
        return key, raw, encoding

    def _accept_events(self, raw: bytes, encoding: str, key: ApiKey | None):
        try:
            body = raw if encoding in ("", "identity") else inflate(raw, encoding, self._max_bytes)
        except InflateError as exc:
            raise _HttpError(exc.status, str(exc)) from exc
        return self._intake.accept_events(body, key)

    def _pass(self, signal: str, raw: bytes, encoding: str, is_json: bool, key: ApiKey | None) -> None:
        try:
            body = raw if encoding in ("", "identity") else inflate(raw, encoding, self._max_bytes)
            self._intake.pass_through(signal, json_to_protobuf(signal, body) if is_json else body)
        except InflateError as exc:
            raise _HttpError(exc.status, str(exc)) from exc
        except DecodeError as exc:
            raise _HttpError(400, str(exc)) from exc

    def _accept(self, raw: bytes, encoding: str, is_json: bool, key: ApiKey | None) -> IngestResult:
        """Off the event loop: decompress, parse, ingest."""
        try:
            body = raw if encoding in ("", "identity") else inflate(raw, encoding, self._max_bytes)
            if not is_json:
                return self._intake.accept_protobuf(body, key)
            otlp_request, dropped = parse_json(body)
            return self._intake.accept(otlp_request, key, dropped)
        except InflateError as exc:
            raise _HttpError(exc.status, str(exc)) from exc
        except DecodeError as exc:
            raise _HttpError(400, str(exc)) from exc
        except OverloadedError as exc:
            raise _HttpError(503, str(exc)) from exc

    async def _read(self, request: web.Request) -> bytes:
        try:
            return await asyncio.wait_for(request.read(), self._settings.read_timeout_seconds)
        except web.HTTPRequestEntityTooLarge as exc:
            raise _HttpError(413, f"request body is over the {self._max_bytes}-byte limit") from exc
        except asyncio.TimeoutError as exc:
            raise _HttpError(408, f"request body did not arrive within {self._settings.read_timeout_seconds}s") from exc


def _partial_success(result: IngestResult, answer_type: str) -> web.Response:
    response = PB2ExportTraceServiceResponse()
    if result.rejected_spans or result.message:
        response.partial_success.rejected_spans = result.rejected_spans
        response.partial_success.error_message = result.message
    return _message_response(200, response, answer_type)


def _empty_response(_: None, answer_type: str) -> web.Response:
    """An empty Export*ServiceResponse: no bytes in protobuf, {} in JSON."""
    return web.Response(status=200, body=b"{}" if answer_type == _JSON else b"", content_type=answer_type)


def _status_response(status: int, message: str, answer_type: str) -> web.Response:
    response = _message_response(status, status_pb2.Status(message=message), answer_type)
    if status in (429, 503):
        response.headers["Retry-After"] = _RETRY_AFTER_SECONDS
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="otel-llmcost"'
    return response


def _message_response(status: int, message, answer_type: str) -> web.Response:
    if answer_type == _JSON:
        body = json_format.MessageToJson(message, indent=None).encode()
    else:
        body = message.SerializeToString()
    return web.Response(status=status, body=body, content_type=answer_type)
