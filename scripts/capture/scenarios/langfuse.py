"""Langfuse Python SDK (OpenTelemetry-based since v3) exporting to the sink instead of a Langfuse host.

The app owns the TracerProvider (no processor of its own) and hands it to Langfuse(tracer_provider=...,
span_exporter=OTLPSpanExporter(<sink>)): LangfuseSpanProcessor, with the exporter it would otherwise point at
<LANGFUSE_BASE_URL>/api/public/otel/v1/traces, is the only exporter, so the fixture holds what Langfuse would ship.
Its default filter (is_default_export_span: scope langfuse-sdk, any gen_ai.* attribute, or a known LLM
instrumentation scope) would drop the app's own `scenario` spans; the documented way to keep them is to widen
should_export_span, done here for the capture-app scope. Dummy keys; LANGFUSE_BASE_URL points at a closed local
port, and nothing here calls the Langfuse API.

Trace-level user/session/tags/metadata: propagate_attributes() (v4+; update_current_trace is gone), which stamps
them on the active span and every span started inside it.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("LANGFUSE_PUBLIC_KEY", "pk-lf-capture")
os.environ.setdefault("LANGFUSE_SECRET_KEY", "sk-lf-capture")
os.environ.setdefault("LANGFUSE_BASE_URL", "http://127.0.0.1:9")

from _common import CLAUDE, MESSAGES, OPENAI_SCENARIOS, openai_scenarios, scenario  # noqa: E402

# This script is itself named langfuse.py: drop its folder from sys.path so `import langfuse` finds the package.
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
sys.modules.pop("langfuse", None)
from langfuse import Langfuse, propagate_attributes  # noqa: E402
from langfuse.span_filter import is_default_export_span  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402

provider = TracerProvider(resource=Resource.create({"service.name": "capture-langfuse"}))
trace.set_tracer_provider(provider)
langfuse = Langfuse(
    tracer_provider=provider,
    span_exporter=OTLPSpanExporter(endpoint=os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]),
    should_export_span=lambda span: is_default_export_span(span) or span.instrumentation_scope.name == "capture-app",
    environment="capture",
)

from langfuse.openai import OpenAI  # noqa: E402  (the drop-in wrapper; uses get_client(), i.e. the client above)

client = OpenAI(max_retries=0)

with scenario("generation"):
    # A hand-reported Anthropic call with Langfuse's own usage keys: input EXCLUDES the cache buckets.
    with propagate_attributes(user_id="user-42", session_id="session-1", tags=["capture", "manual"],
                              metadata={"customer_id": "cust-3"}):
        with langfuse.start_as_current_observation(
            as_type="generation", name="anthropic-messages", model=CLAUDE, input=MESSAGES,
            model_parameters={"max_tokens": 256},
        ) as generation:
            generation.update(
                output="Paris is the capital of France.",
                usage_details={"input": 100, "input_cache_read": 300, "input_cache_creation": 50, "output": 25},
                cost_details={"total": 0.0009525},
            )
with scenario("generation_anthropic_keys"):
    # The same call reported with Anthropic's raw usage field names (Langfuse's Claude price entries accept both).
    with langfuse.start_as_current_observation(as_type="generation", name="anthropic-messages", model=CLAUDE) as gen:
        gen.update(usage_details={"input": 100, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 50,
                                  "output": 25})
with scenario("embedding"):
    with langfuse.start_as_current_observation(as_type="embedding", name="embed", model="text-embedding-3-small",
                                               input="hello") as embedding:
        embedding.update(usage_details={"input": 16})
with scenario("openai_integration"):
    # langfuse.openai: the stand-in's chat usage prompt_tokens=120 incl. cached 20, completion_tokens=30.
    with propagate_attributes(user_id="user-7", session_id="session-2"):
        OPENAI_SCENARIOS["chat"](client)
openai_scenarios(client, include=("chat_stream", "embeddings", "rate_limited_retry"), names={
    "chat_stream": "openai_integration_stream", "embeddings": "openai_integration_embeddings",
    "rate_limited_retry": "openai_integration_rate_limited_retry"})
langfuse.flush()
provider.shutdown()
