#!/usr/bin/env python3
"""A minimal instrumented app whose LLM calls otel-llmcost prices. No real provider is called.

Each request to the app's feature (--feature, default "summarize") is one server span that carries the
attribution: `tenant.id`, `feature.name`, `request.id` and `user.id`. Under it, every call to the model
is a GenAI client span (OpenTelemetry GenAI semantic conventions v1.41) that carries the model and token
usage.
otel-llmcost reads the attribution from the LLM span's ancestors, so the app sets it once per request.
It does not copy it onto every LLM span.

Every 3rd request is rate limited on its first call. The failed call is a span with status ERROR and
`error.type` set, and no usage. The retry is a second call span under the same parent. The receiver
numbers them attempt 1 (error) and attempt 2 (ok).

Token counts are a function of the request number n (1, 2, ...), so the rows are easy to check:
input 1000 + 100n, of which cache reads 100n, and output 200 + 10n. With the bundled gpt-4o-mini price
(USD per million tokens: input 0.15, cache read 0.075, output 0.60), request 1 costs
(1000 x 0.15 + 100 x 0.075 + 210 x 0.60) / 1e6 = 0.0002835 USD.

Run it against the receiver:

    pip install opentelemetry-sdk opentelemetry-exporter-otlp
    otel-llmcost serve                                    # OTLP/gRPC :4317, OTLP/HTTP :4318
    python otel/example_app.py --requests 6               # in another shell; HTTP by default
    python otel/example_app.py --protocol grpc --tenant globex --feature translate
    otel-llmcost sql "SELECT request_id, attempt, status, input_tokens, output_tokens, cost_usd
                      FROM llmcost.llm_usage ORDER BY request_id, attempt"

Without --endpoint the exporter follows the standard variables (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
OTEL_EXPORTER_OTLP_ENDPOINT). With neither set, it sends to http://localhost:4318/v1/traces (HTTP) or
http://localhost:4317 (gRPC). An endpoint of the form http://host:port is plaintext and https:// uses TLS.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

PROVIDER = "openai"  # gen_ai.provider.name, as the price book names providers
REQUEST_MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"  # providers answer with a dated snapshot; both are priced
MAX_ATTEMPTS = 3
SIMULATED_LATENCY_S = 0.01
RETRY_BACKOFF_S = 0.02
USERS = ("u-alice", "u-bob")


class RateLimitError(Exception):
    """What a provider SDK raises for HTTP 429."""


@dataclass(frozen=True)
class Usage:
    input_tokens: int  # includes cache_read_tokens, as the semantic conventions define it
    cache_read_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Completion:
    id: str
    model: str
    usage: Usage


def usage_for(n: int) -> Usage:
    """Deterministic token counts for request n (see the module docstring)."""
    return Usage(input_tokens=1000 + 100 * n, cache_read_tokens=100 * n, output_tokens=200 + 10 * n)


def fake_provider_call(n: int, attempt: int) -> Completion:
    """Stands in for e.g. `client.chat.completions.create(model="gpt-4o-mini", ...)`."""
    time.sleep(SIMULATED_LATENCY_S)
    if n % 3 == 0 and attempt == 1:
        raise RateLimitError("429 Too Many Requests: rate limit reached for gpt-4o-mini")
    return Completion(id=f"chatcmpl-example-{n:04d}", model=RESPONSE_MODEL, usage=usage_for(n))


def chat(tracer: trace.Tracer, n: int, attempt: int) -> Completion:
    """One model call = one GenAI client span. A retry is a new call, so it gets a new span."""
    # Name "{operation} {model}" and kind CLIENT. Set the request attributes when the span starts.
    with tracer.start_as_current_span(f"chat {REQUEST_MODEL}", kind=SpanKind.CLIENT, attributes={
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER,
        "gen_ai.request.model": REQUEST_MODEL,
        "server.address": "api.openai.com",
    }) as span:
        try:
            completion = fake_provider_call(n, attempt)
        except RateLimitError as exc:
            # A failed call: error.type (the exception's class name) and status ERROR. It has no usage.
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        # Set the response attributes once the call returns: the model that answered, and the usage.
        span.set_attributes({
            "gen_ai.response.id": completion.id,
            "gen_ai.response.model": completion.model,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": completion.usage.input_tokens,
            "gen_ai.usage.cache_read.input_tokens": completion.usage.cache_read_tokens,
            "gen_ai.usage.output_tokens": completion.usage.output_tokens,
        })
        return completion


def handle_request(tracer: trace.Tracer, n: int, tenant: str, feature: str) -> int:
    """One request to the feature. Returns how many model calls it took."""
    # The attribution goes on the request's span, once. Every LLM call below inherits it.
    with tracer.start_as_current_span(f"POST /{feature}", kind=SpanKind.SERVER, attributes={
        "tenant.id": tenant,
        "feature.name": feature,
        "request.id": f"req-{n:04d}",  # in a real app: the id of the incoming request
        "user.id": USERS[(n - 1) % len(USERS)],
    }):
        # Retries stay under the same parent span, so the receiver counts them as attempts of one call.
        # If your retries run under different parents, set `llm.attempt` on each LLM span yourself.
        attempt = 1
        while True:
            try:
                chat(tracer, n, attempt)
                return attempt
            except RateLimitError:
                if attempt == MAX_ATTEMPTS:
                    raise
            time.sleep(RETRY_BACKOFF_S * attempt)
            attempt += 1


def make_exporter(protocol: str, endpoint: str | None) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint)  # None: the OTEL_EXPORTER_OTLP_* variables, then the default
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=endpoint)


def default_protocol() -> str:
    """From the standard variables: "grpc" means OTLP/gRPC, anything else OTLP/HTTP."""
    env = os.environ
    value = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    return "grpc" if value == "grpc" else "http"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="OTLP endpoint (default: OTEL_EXPORTER_OTLP_* variables, else "
                        "http://localhost:4318/v1/traces for http, http://localhost:4317 for grpc)")
    parser.add_argument("--protocol", choices=["http", "grpc"], default=default_protocol(),
                        help="OTLP/HTTP (protobuf) or OTLP/gRPC (default: http)")
    parser.add_argument("--tenant", default="acme", help="tenant.id (default: acme)")
    parser.add_argument("--feature", default="summarize", help="feature.name (default: summarize)")
    parser.add_argument("--requests", type=int, default=6, metavar="N",
                        help="requests to simulate (default: 6)")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")

    # Once at startup: the resource names the service, and the batch processor exports in the background.
    # Keep the default sampler (every trace). Head sampling would drop LLM calls, and their cost with them.
    provider = TracerProvider(resource=Resource.create({
        "service.name": "llmcost-example-app",
        "deployment.environment.name": "dev",
    }))
    provider.add_span_processor(BatchSpanProcessor(make_exporter(args.protocol, args.endpoint)))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("llmcost-example-app", "1.0")

    calls = 0
    try:
        for n in range(1, args.requests + 1):
            calls += handle_request(tracer, n, args.tenant, args.feature)
    finally:
        # At exit, even a failing one: shutdown() exports the buffered spans. Without it they are lost.
        provider.shutdown()
    destination = args.endpoint or "the OTEL_EXPORTER_OTLP_* or default endpoint"
    print(f"{args.requests} requests, {calls} LLM calls ({calls - args.requests} retried); spans exported "
          f"over OTLP/{args.protocol.upper()} to {destination} (export errors, if any, are logged above)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
