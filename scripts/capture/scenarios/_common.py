"""Shared by the Python scenario scripts: the tracer provider and the per-scenario app span.

Each scenario runs in its own trace under an app span carrying request.id=<scenario>, tenant.id and
feature.name, as an instrumented app would set them; the fixture tests map rows back by request_id.
"""

from __future__ import annotations

import contextlib
import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def setup(service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])))
    trace.set_tracer_provider(provider)
    return provider


@contextlib.contextmanager
def scenario(name: str, feature: str = "capture"):
    tracer = trace.get_tracer("capture-app")
    with tracer.start_as_current_span(f"scenario {name}", attributes={
        "request.id": name, "tenant.id": "capture-tenant", "feature.name": feature,
    }):
        yield
