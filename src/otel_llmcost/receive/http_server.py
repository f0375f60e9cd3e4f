"""OTLP/HTTP: POST /v1/traces on port 4318, protobuf or JSON, optionally gzip-compressed (aiohttp).

Answers follow the OTLP spec: the response is encoded like the request; 400 for an undecodable body,
413 over the size limit (checked after decompression too), 415 for an unknown content type or encoding,
503 with Retry-After when the receiver is overloaded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import zlib

from aiohttp import web
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse as PB2ExportTraceServiceResponse,
)

from otel_llmcost.decode import parse_json, parse_protobuf
from otel_llmcost.errors import DecodeError, OverloadedError
from otel_llmcost.pipeline import Pipeline

logger = logging.getLogger(__name__)

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_PARSERS = {_PROTOBUF: parse_protobuf, "application/protobuf": parse_protobuf, _JSON: parse_json}
_PATHS = ("/v1/traces", "/otlp/v1/traces")  # the second: some SDKs append the path to an /otlp base URL
_RETRY_AFTER_SECONDS = "5"
_SHUTDOWN_SECONDS = 5.0


class _HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class HttpReceiver:
    def __init__(self, pipeline: Pipeline, host: str, port: int, max_request_bytes: int):
        self._pipeline = pipeline
        self._host, self._requested_port = host, port
        self._max_bytes = max_request_bytes
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="otlp-http", daemon=True)
        app = web.Application(client_max_size=max_request_bytes)
        for path in _PATHS:
            app.router.add_post(path, self._export)
        # We decompress ourselves, so the size limit also holds after decompression.
        # On stop, in-flight exports get a few seconds (aiohttp's default is 60); a client cut off retries.
        self._runner = web.AppRunner(app, auto_decompress=False, access_log=None, shutdown_timeout=_SHUTDOWN_SECONDS)
        self.port = 0

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
        site = web.TCPSite(self._runner, self._host, self._requested_port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the real port when 0 was asked for

    async def _export(self, request: web.Request) -> web.Response:
        content_type = request.content_type.lower()
        answer_type = _JSON if content_type == _JSON else _PROTOBUF
        try:
            parse = _PARSERS.get(content_type)
            if parse is None:
                raise _HttpError(415, f"unsupported content type {content_type!r}; use {_PROTOBUF} or {_JSON}")
            body = await self._body(request)
            try:
                otlp_request = parse(body)
            except DecodeError as exc:
                raise _HttpError(400, str(exc)) from exc
            try:
                result = await asyncio.get_running_loop().run_in_executor(None, self._pipeline.ingest, otlp_request)
            except OverloadedError as exc:
                raise _HttpError(503, str(exc)) from exc
        except _HttpError as exc:
            return _status_response(exc.status, str(exc), answer_type)
        except Exception:
            logger.exception("OTLP/HTTP export failed")
            return _status_response(503, "internal error while storing spans; retry later", answer_type)
        response = PB2ExportTraceServiceResponse()
        if result.rejected_spans or result.message:
            response.partial_success.rejected_spans = result.rejected_spans
            response.partial_success.error_message = result.message
        return _message_response(200, response, answer_type)

    async def _body(self, request: web.Request) -> bytes:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise _HttpError(413, f"request body is over the {self._max_bytes}-byte limit") from exc
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("", "identity"):
            return raw
        if encoding not in ("gzip", "deflate"):
            raise _HttpError(415, f"unsupported content encoding {encoding!r}; use gzip")
        # wbits 47 = auto-detect gzip or zlib headers.
        inflater = zlib.decompressobj(47)
        try:
            body = inflater.decompress(raw, self._max_bytes + 1)
        except zlib.error as exc:
            raise _HttpError(400, f"body is not valid {encoding}: {exc}") from exc
        if len(body) > self._max_bytes or inflater.unconsumed_tail:
            raise _HttpError(413, f"decompressed body is over the {self._max_bytes}-byte limit")
        return body


def _status_response(status: int, message: str, answer_type: str) -> web.Response:
    response = _message_response(status, status_pb2.Status(message=message), answer_type)
    if status in (429, 503):
        response.headers["Retry-After"] = _RETRY_AFTER_SECONDS
    return response


def _message_response(status: int, message, answer_type: str) -> web.Response:
    if answer_type == _JSON:
        body = json_format.MessageToJson(message, indent=None).encode()
    else:
        body = message.SerializeToString()
    return web.Response(status=status, body=body, content_type=answer_type)
