"""A planned demo request as OpenTelemetry spans, through the real SDK and OTLP exporters.

The span shapes are otel/example_app.py's: one SERVER span per request carrying the attribution
(tenant, feature, request, user, session), and under it one GenAI CLIENT span per model call attempt
(semantic conventions v1.41). Spans carry the planned start and end times, so backfilled days land on
their own dates. Needs the SDK: pip install 'otel-llmcost[demo]'.
"""

from __future__ import annotations

from datetime import datetime

from otel_llmcost.demo.workload import Attempt, Call, Request

try:
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from opentelemetry.util.types import AttributeValue
except ImportError as exc:  # the receiver itself does not need the SDK
    raise ImportError("otel-llmcost demo needs the OpenTelemetry SDK and OTLP exporters: "
                      "pip install 'otel-llmcost[demo]'") from exc

#: Spans the SDK may hold before export; the demo flushes well before (see Emitter.flush_every).
QUEUE_SIZE = 65_536


def make_exporter(protocol: str, endpoint: str) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=endpoint if endpoint.endswith("/v1/traces") else endpoint.rstrip("/") + "/v1/traces")


class _Counted(SpanExporter):
    """The exporter, counting the spans the endpoint did not take (the SDK only logs them)."""

    def __init__(self, exporter: SpanExporter):
        self._exporter = exporter
        self.refused = 0

    def export(self, spans):
        result = self._exporter.export(spans)
        if result is not SpanExportResult.SUCCESS:
            self.refused += len(spans)
        return result

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._exporter.force_flush(timeout_millis)


class Emitter:
    """One TracerProvider (and exporter) per service and environment: both are resource attributes."""

    flush_every = 2_000  # spans between flushes: the batch queue never drops any

    def __init__(self, protocol: str, endpoint: str):
        self._protocol, self._endpoint = protocol, endpoint
        self._providers: dict[tuple[str, str], TracerProvider] = {}
        self._exporters: list[_Counted] = []
        self._unflushed = 0

    @property
    def refused(self) -> int:
        """Spans the endpoint did not accept (after the exporter's retries)."""
        return sum(exporter.refused for exporter in self._exporters)

    def _tracer(self, service: str, environment: str) -> trace.Tracer:
        key = (service, environment)
        if key not in self._providers:
            provider = TracerProvider(resource=Resource.create({
                "service.name": service, "deployment.environment.name": environment}))
            exporter = _Counted(make_exporter(self._protocol, self._endpoint))
            self._exporters.append(exporter)
            provider.add_span_processor(
                BatchSpanProcessor(exporter, max_queue_size=QUEUE_SIZE, max_export_batch_size=512))
            self._providers[key] = provider
        return self._providers[key].get_tracer("otel-llmcost-demo", "1.0")

    def emit(self, request: Request) -> int:
        """The request's spans; returns how many."""
        tracer = self._tracer(request.feature.service, request.tenant.environment)
        root = tracer.start_span(f"POST /{request.feature.name}", kind=SpanKind.SERVER, start_time=_ns(request.start),
                                 attributes={
                                     "tenant.id": request.tenant.name,
                                     "feature.name": request.feature.name,
                                     "llm.project": request.feature.project,
                                     "request.id": request.request_id,
                                     "user.id": request.user_id,
                                     "session.id": request.session_id,
                                 })
        parent = trace.set_span_in_context(root)
        spans = 1
        failed = False
        for call in request.calls:
            for attempt in call.attempts:
                _call_span(tracer, parent, call, attempt)
                spans += 1
            failed = failed or bool(call.attempts[-1].error_type)
        if failed:
            root.set_status(Status(StatusCode.ERROR, "an LLM call failed on every attempt"))
        root.end(end_time=_ns(request.end))
        self._unflushed += spans
        if self._unflushed >= self.flush_every:
            self.flush()
        return spans

    def flush(self) -> None:
        for provider in self._providers.values():
            provider.force_flush()
        self._unflushed = 0

    def shutdown(self) -> None:
        self.flush()
        for provider in self._providers.values():
            provider.shutdown()


def _call_span(tracer: trace.Tracer, parent, call: Call, attempt: Attempt) -> None:
    model = call.model
    span = tracer.start_span(f"chat {model.name}", context=parent, kind=SpanKind.CLIENT, start_time=_ns(attempt.start),
                             attributes={
                                 "gen_ai.operation.name": "chat",
                                 "gen_ai.provider.name": model.provider,
                                 "gen_ai.request.model": model.name,
                                 "gen_ai.request.stream": call.streaming,
                                 "server.address": model.server,
                             })
    if attempt.error_type:
        span.set_attribute("error.type", attempt.error_type)
        span.set_status(Status(StatusCode.ERROR, f"{attempt.error_type} from {model.server}"))
    else:
        usage: dict[str, AttributeValue] = {
            "gen_ai.response.model": model.name,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": attempt.input_tokens,
            "gen_ai.usage.cache_read.input_tokens": attempt.cache_read_tokens,
            "gen_ai.usage.output_tokens": attempt.output_tokens,
        }
        if attempt.cache_write_tokens:
            usage["gen_ai.usage.cache_creation.input_tokens"] = attempt.cache_write_tokens
        if attempt.ttft_s is not None:
            usage["gen_ai.response.time_to_first_chunk"] = attempt.ttft_s
        span.set_attributes(usage)
    span.end(end_time=_ns(attempt.end))


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000) * 1000
