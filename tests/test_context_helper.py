"""otel_llmcost.context: attribution set once per request reaches every LLM span, through the receiver."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_llmcost.context import LlmContextSpanProcessor, llm_context
from scenario import llm_span_attributes


def test_context_reaches_llm_spans_without_any_app_span(receiver_factory):
    receiver = receiver_factory()
    provider = TracerProvider()
    provider.add_span_processor(LlmContextSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True)))
    tracer = provider.get_tracer("library-we-do-not-control")
    with llm_context(tenant="acme", feature="search", request_id="r-9", user="u-1", plan="enterprise"):
        with llm_context(feature="rerank"):  # nested: overrides the feature only
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes=llm_span_attributes(
                    "openai", "gpt-4o-mini", input_tokens=3, output_tokens=1)):
                pass
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=llm_span_attributes(
                "openai", "gpt-4o-mini", input_tokens=5, output_tokens=1)):
            pass
    with tracer.start_as_current_span("chat gpt-4o-mini", attributes=llm_span_attributes(
            "openai", "gpt-4o-mini", input_tokens=7, output_tokens=1)):
        pass  # outside any context: nothing attached
    provider.shutdown()
    receiver.stop()
    rows = receiver.sql("SELECT tenant_id, feature, request_id, user_id, metadata, input_tokens "
                        "FROM llmcost.llm_usage ORDER BY input_tokens")
    assert [(r["tenant_id"], r["feature"], r["user_id"], r["metadata"]) for r in rows] == [
        ("acme", "rerank", "u-1", {"plan": "enterprise"}),
        ("acme", "search", "u-1", {"plan": "enterprise"}),
        ("", "", "", {}),
    ]
    assert rows[0]["request_id"] == rows[1]["request_id"] == "r-9"
