"""A test app for the in-app SDK with real instrumentation: the `openai` client, instrumented by
opentelemetry-instrumentation-openai-v2, calls the capture script's stand-in provider (scripts/capture), and
otel_llmcost.sdk prices the calls in the process twice over: PricingSpanExporter hands every span, LLM calls
with their cost, to the SDK's OTLP/gRPC exporter (a downstream endpoint, tests/otlp_sink.py), and
UsageRowExporter writes the priced rows to a store (chDB in DIR).

    python tests/sdk_openai_app.py SINK_GRPC_PORT DIR

The scenarios are the capture scripts' own (scripts/capture/scenarios/_common.py): each in its own trace under
an app span carrying request.id=<scenario>, tenant.id and feature.name.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CAPTURE = Path(__file__).resolve().parents[1] / "scripts" / "capture"
sys.path[:0] = [str(CAPTURE), str(CAPTURE / "scenarios")]

from _common import openai_scenarios  # noqa: E402
from fake_provider import FakeProvider  # noqa: E402
from openai import OpenAI  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402

from capture import serve_in_thread  # noqa: E402
from otel_llmcost import sdk  # noqa: E402
from otel_llmcost.store.chdb_store import ChdbStore  # noqa: E402

#: The scenarios the app runs (OPENAI_SCENARIOS' names): a call, a streamed call, embeddings, the app's own
#: retry after a 429, the client's own retry inside one call, and a call refused for good.
SCENARIOS = ("chat", "chat_stream", "embeddings", "rate_limited_retry", "sdk_retry", "failed")


def main() -> None:
    sink_port, directory = int(sys.argv[1]), sys.argv[2]
    provider_port = serve_in_thread(FakeProvider().app())
    os.environ.update({"OPENAI_BASE_URL": f"http://127.0.0.1:{provider_port}/v1", "OPENAI_API_KEY": "sk-stand-in"})
    store = ChdbStore(directory, "llmcost")
    store.ensure_schema()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-openai-app",
                                                        "deployment.environment.name": "test"}))
    waits = {"trace_wait_seconds": 1.0, "max_trace_wait_seconds": 10.0}
    sdk.setup(provider, exporter=OTLPSpanExporter(endpoint=f"127.0.0.1:{sink_port}", insecure=True), **waits)
    sdk.setup(provider, store=store, **waits)
    trace.set_tracer_provider(provider)
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    openai_scenarios(OpenAI(max_retries=0), include=SCENARIOS)
    provider.shutdown()  # prices what still waits, exports it, closes the store


if __name__ == "__main__":
    main()
