"""Sending OTLP request bytes to one destination: gRPC (grpcio) or HTTP/protobuf (the standard library).

The bodies are already serialised requests: nothing is parsed again on the way out. Which failures are
worth retrying follows the OTLP specification: gRPC UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
ABORTED, CANCELLED, OUT_OF_RANGE, DATA_LOSS; HTTP 429, 502, 503, 504; and any connection failure. Any other
answer means the destination will never take the batch.
"""

from __future__ import annotations

import gzip
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_llmcost.config import ForwardDestination
from otel_llmcost.forward.outbox import PASS_LOGS, PASS_METRICS

_RETRYABLE_GRPC = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.DATA_LOSS,
})
_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_SIGNALS = {  # record kind -> (gRPC method, HTTP path, response type, its partial-success count field)
    PASS_METRICS: ("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", "/v1/metrics",
                   ExportMetricsServiceResponse, "rejected_data_points"),
    PASS_LOGS: ("/opentelemetry.proto.collector.logs.v1.LogsService/Export", "/v1/logs",
                ExportLogsServiceResponse, "rejected_log_records"),
}
_TRACES = ("/opentelemetry.proto.collector.trace.v1.TraceService/Export", "/v1/traces", ExportTraceServiceResponse,
           "rejected_spans")


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


class RetryLater(Exception):
    """The destination may take the batch later."""


class Refused(Exception):
    """The destination will never take this batch."""


class Transport:
    def __init__(self, destination: ForwardDestination):
        self.destination = destination
        self._gzip = destination.compression == "gzip"
        self._headers = {name.lower(): value for name, value in destination.headers.items()}
        self._channel: grpc.Channel | None = None
        self._ssl: ssl.SSLContext | None = None
        if destination.protocol == "grpc":
            target = destination.endpoint.split("://", 1)[-1].rstrip("/")
            if destination.uses_tls:
                credentials = grpc.ssl_channel_credentials(_read(destination.ca_file), _read(destination.key_file),
                                                           _read(destination.cert_file))
                self._channel = grpc.secure_channel(target, credentials)
            else:
                self._channel = grpc.insecure_channel(target)
        elif destination.uses_tls:
            self._ssl = ssl.create_default_context(cafile=destination.ca_file)
            if destination.cert_file:
                self._ssl.load_cert_chain(destination.cert_file, destination.key_file)

    def send(self, kind: int, body: bytes) -> tuple[int, str]:
        """Deliver one request; returns what the destination rejected of it (partial success: count, message).
        Raises RetryLater or Refused."""
        method, path, response_type, rejected_field = _SIGNALS.get(kind, _TRACES)
        if self._channel is not None:
            answer = self._send_grpc(self._channel, method, body)
        else:
            answer = self._send_http(path, body)
        response = response_type()
        try:
            response.ParseFromString(answer)
        except DecodeError:  # an answer we cannot read still acknowledged the batch
            return 0, ""
        partial = response.partial_success
        return getattr(partial, rejected_field), partial.error_message

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()

    def _send_grpc(self, channel: grpc.Channel, method: str, body: bytes) -> bytes:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            method, request_serializer=None, response_deserializer=None)
        try:
            return call(body, timeout=self.destination.timeout_seconds, metadata=tuple(self._headers.items()),
                        compression=grpc.Compression.Gzip if self._gzip else grpc.Compression.NoCompression)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            detail = f"gRPC {code.name if code else 'error'}: {exc.details() if hasattr(exc, 'details') else exc}"
            raise (RetryLater if code in _RETRYABLE_GRPC else Refused)(detail) from exc

    def _send_http(self, path: str, body: bytes) -> bytes:
        headers = {**self._headers, "content-type": "application/x-protobuf"}
        if self._gzip:
            body = gzip.compress(body, compresslevel=5)
            headers["content-encoding"] = "gzip"
        request = urllib.request.Request(self.destination.endpoint.rstrip("/") + path, data=body, headers=headers,
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.destination.timeout_seconds, context=self._ssl) as answer:
                return answer.read()
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code}: {exc.read()[:300]!r}"
            raise (RetryLater if exc.code in _RETRYABLE_HTTP else Refused)(detail) from exc
        except (OSError, urllib.error.URLError) as exc:  # refused, reset, timed out, DNS
            raise RetryLater(f"{type(exc).__name__}: {exc}") from exc
