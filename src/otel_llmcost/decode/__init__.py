"""Decode stage: OTLP wire messages (protobuf or JSON) -> SpanRecord. Pure functions, no I/O."""

from otel_llmcost.decode.otlp import (
    AttributeFilter,
    DecodedSpans,
    decode_spans,
    parse_protobuf,
    summarise_documents,
    trace_ids,
)
from otel_llmcost.decode.otlp_json import parse_json

__all__ = ["AttributeFilter", "DecodedSpans", "decode_spans", "parse_json", "parse_protobuf", "summarise_documents",
           "trace_ids"]
