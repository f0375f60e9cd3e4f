"""OTLP/gRPC wire behaviour against the real receiver, with a real grpcio client."""

from __future__ import annotations

import os

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from payloads import llm_span, request

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _export(port: int, body: bytes, compression=None) -> ExportTraceServiceResponse:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        return ExportTraceServiceResponse.FromString(call(body, timeout=30, compression=compression))


def test_gzip_export_and_partial_success(receiver_factory):
    receiver = receiver_factory()
    trace_id = os.urandom(16)
    good = llm_span(trace_id, "gpt-4o-mini", 10, 5)
    bad = llm_span(trace_id, "gpt-4o-mini", 10, 2.5)
    response = _export(receiver.grpc_port, request(good, bad).SerializeToString(), grpc.Compression.Gzip)
    assert response.partial_success.rejected_spans == 1
    assert "2.5 is not a token count" in response.partial_success.error_message
    full = _export(receiver.grpc_port, request(llm_span(trace_id, "gpt-4o", 1, 1)).SerializeToString())
    assert not full.HasField("partial_success")
    receiver.stop()
    rows = receiver.sql("SELECT request_model FROM llmcost.llm_usage ORDER BY request_model")
    assert rows == [{"request_model": "gpt-4o"}, {"request_model": "gpt-4o-mini"}]


def test_undecodable_body_is_invalid_argument(receiver_factory):
    receiver = receiver_factory()
    with pytest.raises(grpc.RpcError) as failure:
        _export(receiver.grpc_port, b"\xff\xff\xff garbage")
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a protobuf" in failure.value.details()
    receiver.stop()


def test_request_over_the_limit_is_resource_exhausted(receiver_factory):
    receiver = receiver_factory({"receiver": {"max_request_bytes": 2048}})
    big = request(llm_span(os.urandom(16), "gpt-4o-mini", 1, 1, padding="x" * 4000)).SerializeToString()
    with pytest.raises(grpc.RpcError) as failure:
        _export(receiver.grpc_port, big)
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    receiver.stop()
