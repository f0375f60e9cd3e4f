"""OTLP/gRPC: opentelemetry.proto.collector.trace.v1.TraceService/Export on port 4317.

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
from otel_llmcost.decode import parse_protobuf
from otel_llmcost.errors import DecodeError, ListenError, OverloadedError
from otel_llmcost.receive.auth import Unauthenticated
from otel_llmcost.receive.intake import Intake
from otel_llmcost.receive.listener import bind_socket

logger = logging.getLogger(__name__)

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


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
        self._server.add_generic_rpc_handlers((handler,))
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
            metadata = dict(context.invocation_metadata())
            header = metadata.get("authorization")  # text: only "-bin" keys carry bytes
            key = self._intake.authenticator.check(header if isinstance(header, str) else None)
            result = self._intake.accept(parse_protobuf(body), key)
        except Unauthenticated as exc:
            self._intake.refused("unauthenticated", str(exc))
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except DecodeError as exc:
            self._intake.refused("undecodable", str(exc))
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except OverloadedError as exc:
            self._intake.refused("overloaded", str(exc))
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except Exception:
            logger.exception("OTLP/gRPC export failed")
            context.abort(grpc.StatusCode.UNAVAILABLE, "internal error while storing spans; retry later")
        response = PB2ExportTraceServiceResponse()
        if result.rejected_spans or result.message:
            response.partial_success.CopyFrom(
                PB2ExportTracePartialSuccess(rejected_spans=result.rejected_spans, error_message=result.message)
            )
        return response.SerializeToString()


def _credentials(settings: ReceiverSettings, key_file: str, cert_file: str) -> grpc.ServerCredentials:
    client_ca = Path(settings.tls_client_ca_file).read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(Path(key_file).read_bytes(), Path(cert_file).read_bytes())],
        root_certificates=client_ca, require_client_auth=client_ca is not None,
    )
