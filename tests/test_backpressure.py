"""The buffer is bounded by bytes: when full the receiver answers 503 + Retry-After, and the OpenTelemetry
SDK's own exporter retry gets every span in once the buffer drains (issue 11, bounded memory)."""

from __future__ import annotations

import os
import re

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from scenario import llm_span_attributes
from test_durability import _wait_for_rows

# Calls whose (remote) parent never arrives are held for max_trace_wait_seconds: the buffer fills up.
SMALL_BUFFER = {"attribution": {"trace_wait_seconds": 0.5, "max_trace_wait_seconds": 2.0,
                                "max_buffered_bytes": 64 * 1024}}


def test_sdk_exporter_gets_everything_in_after_the_503s_stop(receiver_factory):
    receiver = receiver_factory(SMALL_BUFFER)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=receiver.http_url, timeout=60), max_export_batch_size=100,
        schedule_delay_millis=50))
    tracer = provider.get_tracer("backpressure")
    sent = []
    for _ in range(300):
        remote_parent = SpanContext(int.from_bytes(os.urandom(16), "big"), int.from_bytes(os.urandom(8), "big"),
                                    is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        with tracer.start_as_current_span(
                "chat gpt-4o-mini", context=trace.set_span_in_context(NonRecordingSpan(remote_parent)),
                kind=SpanKind.CLIENT,
                attributes=llm_span_attributes("openai", "gpt-4o-mini", input_tokens=10, output_tokens=2)) as span:
            sent.append(format(span.get_span_context().span_id, "016x"))
    assert provider.force_flush(timeout_millis=120_000)
    provider.shutdown()
    _wait_for_rows(receiver, len(sent))
    log = receiver.stop()
    refused = int(re.search(r"refused_exports=(\d+)", log).group(1))
    assert refused > 0  # the buffer did fill up: the exporter was told to retry, and did
    stored = [row["span_id"] for row in receiver.sql("SELECT span_id FROM llmcost.llm_usage")]
    assert sorted(stored) == sorted(sent)  # every span, once


def test_the_rest_of_a_held_trace_goes_in_over_a_full_buffer(tmp_path):
    """A full buffer refuses an export before decoding it, except one holding more of a trace the buffer
    holds (or just released), up to an eighth over the cap: refused, a split trace's other part could leave
    the recent cache before the retry got in, and the trace be cut."""
    import pytest

    from otel_llmcost.config import load_settings
    from otel_llmcost.decode import trace_ids
    from otel_llmcost.errors import OverloadedError
    from otel_llmcost.ingest.admit import Admission
    from otel_llmcost.ingest.validate import validate
    from otel_llmcost.semconv import WANTED_ATTRIBUTES
    from payloads import llm_span, request

    settings = load_settings(overrides={"attribution.max_buffered_bytes": 8192, "spool_fsync": False})
    admission = Admission(settings, str(tmp_path / "spool"))
    held, other = os.urandom(16), os.urandom(16)
    for _ in range(3):  # ~1.4 KB each: over the cap after 6 spans
        first = request(llm_span(held, "gpt-4o-mini", 1, 1, parent=os.urandom(8)),
                        llm_span(held, "gpt-4o-mini", 1, 1, parent=os.urandom(8)))
        assert admission.check_room(0, lambda first=first: trace_ids(first)) is False
        admission.admit(validate(first, WANTED_ATTRIBUTES), 0)
    rest, stranger = request(llm_span(held, "gpt-4o-mini", 1, 1)), request(llm_span(other, "gpt-4o-mini", 1, 1))
    with pytest.raises(OverloadedError, match="buffer is full"):
        admission.check_room(0, lambda: trace_ids(stranger))
    assert admission.check_room(0, lambda: trace_ids(rest)) is True
    admission.admit(validate(rest, WANTED_ATTRIBUTES), 0, over=True)
    figures = admission.figures()
    assert figures["refused_exports"] == 1 and figures["accepted_spans"] == 7
    with pytest.raises(OverloadedError, match="buffer is full"):  # not past an eighth over the cap
        while True:
            more = request(llm_span(held, "gpt-4o-mini", 1, 1, parent=os.urandom(8)))
            assert admission.check_room(0, lambda more=more: trace_ids(more)) is True
            admission.admit(validate(more, WANTED_ATTRIBUTES), 0, over=True)
    assert admission.figures()["buffered_bytes"] < 8192 + 8192 // 8 + 2048
    admission.close()
