"""OTLP metrics and logs exports, which the receiver only passes on (forwarding): checked to be what they
claim, and counted, never changed."""

from __future__ import annotations

from google.protobuf.message import DecodeError as PB2DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otel_llmcost.errors import DecodeError

SIGNALS = ("metrics", "logs")
_POINTS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def count_items(signal: str, body: bytes) -> int:
    """Data points (metrics) or log records (logs) in a binary export body; DecodeError when it is not one."""
    request = ExportMetricsServiceRequest() if signal == "metrics" else ExportLogsServiceRequest()
    try:
        request.ParseFromString(body)
    except PB2DecodeError as exc:
        raise DecodeError(f"body is not a protobuf {type(request).__name__}: {exc}") from exc
    if isinstance(request, ExportLogsServiceRequest):
        return sum(len(scope.log_records) for resource in request.resource_logs for scope in resource.scope_logs)
    points = 0
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                data = metric.WhichOneof("data")
                points += len(getattr(metric, data).data_points) if data in _POINTS else 0
    return points
