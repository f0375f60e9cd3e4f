"""Helpers of the forwarding tests: a downstream OTLP endpoint process (otlp_sink.py), what arrived there, and
an instrumented app (the real OpenTelemetry SDK) whose spans the tests compare with what arrived."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from scenario import llm_span_attributes

SINK = Path(__file__).with_name("otlp_sink.py")


class Sink:
    """tests/otlp_sink.py as a process; `received()` reads what it recorded."""

    def __init__(self, out: Path, grpc_port: int = 0, http_port: int = 0):
        self.out = out
        self.grpc_port, self.http_port = grpc_port, http_port
        self.process: subprocess.Popen | None = None

    def start(self) -> Sink:
        self.process = subprocess.Popen(
            [sys.executable, str(SINK), str(self.out), "--grpc-port", str(self.grpc_port),
             "--http-port", str(self.http_port)], stdout=subprocess.PIPE, text=True)
        ports = json.loads(self.process.stdout.readline())
        self.grpc_port, self.http_port = ports["grpc_port"], ports["http_port"]
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        if self.process is not None:
            self.process.stdout.close()

    def exports(self, signal: str) -> list[bytes]:
        if not self.out.exists():
            return []
        # The sink appends a line per export while we read: a last line without its newline is not whole yet.
        lines = self.out.read_text(encoding="ascii").split("\n")[:-1]
        return [base64.b64decode(body) for kind, body in (line.split(" ", 1) for line in lines) if kind == signal]

    def spans(self) -> list[tuple[str, str, str, dict]]:
        """(trace id, span id, name, attributes) of every span that arrived, as often as it arrived."""
        found = []
        for body in self.exports("traces"):
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append((span.trace_id.hex(), span.span_id.hex(), span.name,
                                      {kv.key: _value(kv.value) for kv in span.attributes}))
        return found

    def wait_for_spans(self, count: int, timeout: float = 60.0) -> list[tuple[str, str, str, dict]]:
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if len(spans) >= count or time.monotonic() > deadline:
                return spans
            time.sleep(0.2)


def _value(value):
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    return getattr(value, kind) if kind else None


def run_app(grpc_port: int, traces: int, tag: str) -> list[ReadableSpan]:
    """Requests of an instrumented app, sent with the SDK's OTLP/gRPC exporter; returns the spans it made.
    Each request: a server span (tenant, feature, request id), a database span and two LLM calls (the
    second already carrying a cost of its own); plus one trace without an LLM call."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "forward-app",
                                                        "deployment.environment.name": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}",
                                                                    insecure=True)))
    emit_calls(provider.get_tracer("forward-app", "1.0"), traces, tag)
    provider.shutdown()
    return list(memory.get_finished_spans())


def emit_calls(tracer, traces: int, tag: str) -> None:
    """The requests of run_app through `tracer`."""
    for index in range(traces):
        with tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER, attributes={
                "tenant.id": f"tenant-{index % 3}", "feature.name": "ask", "request.id": f"{tag}-{index}"}):
            with tracer.start_as_current_span("db query", attributes={"db.system": "postgresql", "rows": index}):
                pass
            with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes={
                    **llm_span_attributes("openai", "gpt-4o-mini", input_tokens=1000 + index,
                                          output_tokens=200 + index),
                    "gen_ai.response.id": f"{tag}-mini-{index}"}):
                pass
            with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes={
                    **llm_span_attributes("openai", "gpt-4o", input_tokens=3000, output_tokens=500 + index),
                    "gen_ai.response.id": f"{tag}-4o-{index}", "gen_ai.usage.cost.amount": 0.25}):
                pass
    with tracer.start_as_current_span("GET /health", kind=SpanKind.SERVER, attributes={"http.route": "/health"}):
        pass


def ids(span: ReadableSpan) -> tuple[str, str]:
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"
