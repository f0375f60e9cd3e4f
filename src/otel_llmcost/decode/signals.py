"""OTLP metrics and logs exports, which the receiver only passes on (forwarding): checked to be what they
claim, and counted, never changed.

OTLP/JSON exports are passed on as protobuf, the encoding of every destination (gRPC and HTTP/protobuf): the
same request, with OTLP/JSON's hex ids made bytes again. Nothing else is dropped or added, except fields the
protobuf schema does not know (the OTLP specification tells receivers to ignore them).
"""

from __future__ import annotations

import json

from google.protobuf.json_format import ParseDict, ParseError
from google.protobuf.message import DecodeError as PB2DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otel_llmcost.decode.otlp_json import dicts, hex_ids_to_base64
from otel_llmcost.errors import DecodeError

SIGNALS = ("metrics", "logs")
_POINTS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def json_to_protobuf(signal: str, body: bytes) -> bytes:
    """An OTLP/JSON metrics or logs export body as the protobuf body of the same request; DecodeError when it
    is not one."""
    request = ExportMetricsServiceRequest() if signal == "metrics" else ExportLogsServiceRequest()
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        for holder in _id_holders(signal, document):
            hex_ids_to_base64(holder)
        ParseDict(document, request, ignore_unknown_fields=True)
    # ValueError: not JSON (or not UTF-8); RecursionError: absurdly deep nesting; ParseError, TypeError: not OTLP
    except (ValueError, RecursionError, ParseError, TypeError) as exc:
        first_line = (str(exc) or type(exc).__name__).splitlines()[0][:300]
        raise DecodeError(f"body is not an OTLP/JSON {type(request).__name__}: {first_line}") from exc
    return request.SerializeToString()


def _id_holders(signal: str, document: dict) -> list[dict]:
    """The objects that carry trace and span ids: log records, and metric points' exemplars."""
    def field(obj: dict, camel: str, snake: str) -> list[dict]:
        return dicts(obj.get(camel, obj.get(snake)))

    if signal == "logs":
        return [record for resource in field(document, "resourceLogs", "resource_logs")
                for scope in field(resource, "scopeLogs", "scope_logs")
                for record in field(scope, "logRecords", "log_records")]
    points = [point for resource in field(document, "resourceMetrics", "resource_metrics")
              for scope in field(resource, "scopeMetrics", "scope_metrics")
              for metric in dicts(scope.get("metrics"))
              for data in (metric.get(kind) for kind in _JSON_POINTS) if isinstance(data, dict)
              for point in field(data, "dataPoints", "data_points")]
    return [exemplar for point in points for exemplar in dicts(point.get("exemplars"))]


_JSON_POINTS = ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram", "summary")


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
