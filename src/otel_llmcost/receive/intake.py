"""What both transports do with a parsed export: bind the key's id and tenant, hand it to the pipeline, count it.

Runs on a worker thread (the gRPC pool or the HTTP receiver's executor), never on an event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)

from otel_llmcost.decode.events import parse_ndjson
from otel_llmcost.decode.signals import count_items
from otel_llmcost.decode.tenant import bind_key
from otel_llmcost.keys import ApiKey
from otel_llmcost.model import IngestResult
from otel_llmcost.ops.metrics import IngestCounters
from otel_llmcost.ops.ratelog import RateLimitedLog
from otel_llmcost.pipeline import Pipeline
from otel_llmcost.receive.auth import Authenticator

logger = logging.getLogger(__name__)
_MAX_REASONS = 5


class Intake:
    def __init__(self, pipeline: Pipeline, authenticator: Authenticator, counters: IngestCounters):
        self._pipeline = pipeline
        self.authenticator = authenticator
        self.counters = counters
        self._warnings = RateLimitedLog(logger)

    def accept(
        self, request: PB2ExportTraceServiceRequest, key: ApiKey | None, dropped: Sequence[str] = (),
    ) -> IngestResult:
        """Ingest the request; `dropped`: reasons for spans the parser already left out (one per span)."""
        if key is not None:
            bind_key(request, key.key_id, key.tenant)
        result = self._pipeline.ingest(request)
        if dropped:
            reasons = "; ".join(dropped[:_MAX_REASONS])
            if len(dropped) > _MAX_REASONS:
                reasons += f"; and {len(dropped) - _MAX_REASONS} more"
            message = "; ".join(part for part in (reasons, result.message) if part)
            result = IngestResult(result.accepted_spans, result.rejected_spans + len(dropped), message)
            self.counters.dropped(len(dropped))
        if result.rejected_spans:
            self._warnings.warn_rarely(
                "rejected", "rejected %d of %d spans of an export: %s", result.rejected_spans,
                result.rejected_spans + result.accepted_spans, result.message,
            )
        return result

    def accept_events(self, body: bytes, key: ApiKey | None) -> tuple[IngestResult, list[tuple[int, str]]]:
        """Flat events (NDJSON) as spans of one export; the bad lines' (number, reason) come back apart."""
        parsed = parse_ndjson(body)
        if not parsed.count:
            return IngestResult(0, 0, ""), parsed.errors
        return self.accept(parsed.request, key), parsed.errors

    @property
    def forwarding(self) -> bool:
        """Metrics and logs are received only to be passed on."""
        return self._pipeline.forwarder is not None

    def pass_through(self, signal: str, body: bytes) -> None:
        """A metrics or logs export (protobuf), checked and queued for the forward destinations unchanged."""
        self._pipeline.pass_through(signal, count_items(signal, body), body)

    def refused(self, reason: str, detail: str) -> None:
        """An export refused as a whole (undecodable, unauthenticated, too large...): count it, warn rarely."""
        self.counters.refused(reason)
        self._warnings.warn_rarely(reason, "refused an export (%s): %s", reason, detail)
