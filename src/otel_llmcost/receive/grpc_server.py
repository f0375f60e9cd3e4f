"""OTLP/gRPC: opentelemetry.proto.collector.trace.v1.TraceService/Export on port 4317 (and, when forwarding,
the metrics and logs services, whose exports are passed on unchanged).

The method is registered with raw-bytes (de)serializers so an undecodable body gets our INVALID_ARGUMENT
with a reason, instead of grpcio's generic INTERNAL error. The port is never shared (SO_REUSEPORT off):
a second receiver on the same port fails to start instead of silently taking half the exports.
"""

from __future__ import annotations

import logging
from concurrent import futures
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess as PB2ExportTracePartialSuccess,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse as PB2ExportTraceServiceResponse,
)

from otel_llmcost.config import ReceiverSettings
from otel_llmcost.errors import DecodeError, ListenError, OverloadedError
from otel_llmcost.receive.auth import Unauthenticated
from otel_llmcost.receive.intake import Intake
from otel_llmcost.receive.listener import bind_socket

logger = logging.getLogger(__name__)

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


_REFUSALS = {  # what a refused export is counted as, and answered with
    Unauthenticated: ("unauthenticated", grpc.StatusCode.UNAUTHENTICATED),
    DecodeError: ("undecodable", grpc.StatusCode.INVALID_ARGUMENT),
    OverloadedError: ("overloaded", grpc.StatusCode.UNAVAILABLE),
}
_REFUSED = tuple(_REFUSALS)


def _identity(data: bytes) -> bytes:
    return data


class GrpcReceiver:
    def __init__(self, intake: Intake, host: str, settings: ReceiverSettings, workers: int = 8):
        self._intake = intake
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
            options=[("grpc.max_receive_message_length", settings.max_request_bytes), ("grpc.so_reuseport", 0)],
        )
        handler = grpc.method_handlers_generic_handler(
            _SERVICE,
            {"Export": grpc.unary_unary_rpc_method_handler(
                self._export, request_deserializer=_identity, response_serializer=_identity
            )},
        )
        handlers = [handler]
        if intake.forwarding:  # metrics and logs are taken only to be passed on
            handlers.extend(
                grpc.method_handlers_generic_handler(f"opentelemetry.proto.collector.{signal}.v1.{service}", {
                    "Export": grpc.unary_unary_rpc_method_handler(
                        self._pass_through(signal), request_deserializer=_identity, response_serializer=_identity)})
                for signal, service in (("metrics", "MetricsService"), ("logs", "LogsService"))
            )
        self._server.add_generic_rpc_handlers(tuple(handlers))
        address = f"{host}:{settings.grpc_port}"
        if settings.grpc_port:
            # Probe first: grpc's own failure is a log line from its C core plus a bare "0".
            bind_socket(host, settings.grpc_port, "OTLP/gRPC").close()
        try:
            if settings.tls_cert_file and settings.tls_key_file:  # the settings have both or neither
                credentials = _credentials(settings, settings.tls_key_file, settings.tls_cert_file)
                self.port = self._server.add_secure_port(address, credentials)
            else:
                self.port = self._server.add_insecure_port(address)
        except RuntimeError:  # grpcio >= 1.5x raises instead of returning 0
            self.port = 0
        if not self.port:
            raise ListenError(f"cannot listen for OTLP/gRPC on {address}: address in use or not available")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 5.0) -> None:
        """Refuse new calls, let running ones finish (they are acknowledged only once spooled)."""
        self._server.stop(grace).wait()

    def _export(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            key = self._intake.authenticator.check(_authorization(context))
            result = self._intake.accept_protobuf(body, key)
        except _REFUSED as exc:
            self._refuse(exc, context)
        except Exception:
            logger.exception("OTLP/gRPC export failed")
            context.abort(grpc.StatusCode.UNAVAILABLE, "internal error while storing spans; retry later")
        response = PB2ExportTraceServiceResponse()
        if result.rejected_spans or result.message:
            response.partial_success.CopyFrom(
                PB2ExportTracePartialSuccess(rejected_spans=result.rejected_spans, error_message=result.message)
            )
        return response.SerializeToString()

    def _pass_through(self, signal: str):
        def export(body: bytes, context: grpc.ServicerContext) -> bytes:
            try:
                self._intake.authenticator.check(_authorization(context))
                self._intake.pass_through(signal, body)
            except _REFUSED as exc:
                self._refuse(exc, context)
            return b""  # an empty Export*ServiceResponse: everything accepted
        return export

    def _refuse(self, exc: Exception, context: grpc.ServicerContext) -> None:
        """Count the refusal and answer it (abort raises)."""
        reason, code = next(answer for kind, answer in _REFUSALS.items() if isinstance(exc, kind))
        self._intake.refused(reason, str(exc))
        context.abort(code, str(exc))


def _credentials(settings: ReceiverSettings, key_file: str, cert_file: str) -> grpc.ServerCredentials:
    client_ca = Path(settings.tls_client_ca_file).read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(Path(key_file).read_bytes(), Path(cert_file).read_bytes())],
        root_certificates=client_ca, require_client_auth=client_ca is not None,
    )


def _authorization(context: grpc.ServicerContext) -> str | None:
    """The request's authorization header, as text: only "-bin" metadata keys carry bytes."""
    header = dict(context.invocation_metadata()).get("authorization")
    return header if isinstance(header, str) else None
