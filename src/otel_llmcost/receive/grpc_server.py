"""OTLP/gRPC: opentelemetry.proto.collector.trace.v1.TraceService/Export on port 4317.

The method is registered with raw-bytes (de)serializers so an undecodable body gets our INVALID_ARGUMENT
with a reason, instead of grpcio's generic INTERNAL error.
"""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess as PB2ExportTracePartialSuccess,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse as PB2ExportTraceServiceResponse,
)

from otel_llmcost.decode import parse_protobuf
from otel_llmcost.errors import DecodeError, OverloadedError
from otel_llmcost.pipeline import Pipeline

logger = logging.getLogger(__name__)

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def _identity(data: bytes) -> bytes:
    return data


class GrpcReceiver:
    def __init__(self, pipeline: Pipeline, host: str, port: int, max_request_bytes: int, workers: int = 8):
        self._pipeline = pipeline
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
            options=[("grpc.max_receive_message_length", max_request_bytes)],
        )
        handler = grpc.method_handlers_generic_handler(
            _SERVICE,
            {"Export": grpc.unary_unary_rpc_method_handler(
                self._export, request_deserializer=_identity, response_serializer=_identity
            )},
        )
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if not self.port:
            raise OSError(f"cannot listen for OTLP/gRPC on {host}:{port}")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 5.0) -> None:
        """Refuse new calls, let running ones finish (they are acknowledged only once spooled)."""
        self._server.stop(grace).wait()

    def _export(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            result = self._pipeline.ingest(parse_protobuf(body))
        except DecodeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except OverloadedError as exc:
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
