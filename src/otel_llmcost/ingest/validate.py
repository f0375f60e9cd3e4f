"""Validation: which spans of an export are usable, and what each of them says as an LLM call.

A span that claims to be an LLM call but cannot be read as one is rejected (partial success), alone: its
neighbours go on. Every span is read once here; the calls travel with their spans through the buffer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)

from otel_llmcost.decode import AttributeFilter, decode_spans
from otel_llmcost.model import IngestResult, LlmCall, SpanRecord
from otel_llmcost.semconv import InvalidSpan, extract_call

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ValidExport:
    """The usable spans of one export, each with its call (None: not an LLM call), and what was rejected."""

    spans: list[SpanRecord]
    calls: list[LlmCall | None]
    rejected: int
    reasons: list[str]  # the first few rejections' reasons

    def result(self) -> IngestResult:
        """What the client is told: every usable span is accepted, the rest rejected with reasons."""
        message = "; ".join(self.reasons)
        if self.rejected > len(self.reasons):
            message += f"; and {self.rejected - len(self.reasons)} more"
        return IngestResult(len(self.spans), self.rejected, message)


def validate(request: PB2ExportTraceServiceRequest, wanted: AttributeFilter) -> ValidExport:
    """Decode the request's spans (keeping the `wanted` attributes) and read each as an LLM call."""
    decoded = decode_spans(request, wanted)
    usable, calls = [], []
    for span in decoded.spans:
        try:
            calls.append(extract_call(span))
        except InvalidSpan as exc:
            decoded.reject(f"span {span.name!r} ({span.span_id}): {exc}")
            continue
        except Exception:  # attribute shapes no dialect expected: lose this span, not the request
            logger.exception("span %s/%s could not be read", span.trace_id, span.span_id)
            decoded.reject(f"span {span.name!r} ({span.span_id}): attributes of an unexpected type")
            continue
        usable.append(span)
    return ValidExport(usable, calls, decoded.rejected, decoded.reasons)
