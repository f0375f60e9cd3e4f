"""traceloop-sdk (Traceloop.init) with the openai SDK: what the OpenLLMetry SDK adds to the instrumentation's spans.

Traceloop.init creates its own TracerProvider (resource service.name = app_name) and span processor, which copies
association properties (traceloop.association.properties.<key>) from the context onto every span; @workflow /
@task decorators add INTERNAL spans (traceloop.span.kind, traceloop.workflow.name, traceloop.entity.*) that carry
no usage. Only the OpenAI instrumentation is enabled; the trace exporter goes to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
(metrics are off: a custom exporter without a metrics exporter). Association properties are attached to the
context and never detached, so the scenarios that set them come last.
openai is pinned to 2.x: traceloop-sdk 0.62.4 imports httpx without declaring it, and openai 3.x (httpx2) no
longer brings httpx in, so `import traceloop.sdk` fails next to openai 3.x.
"""

import os

os.environ.setdefault("TRACELOOP_TELEMETRY", "false")

from _common import GPT, MESSAGES, openai_scenarios, scenario  # noqa: E402
from openai import OpenAI  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from traceloop.sdk import Traceloop  # noqa: E402
from traceloop.sdk.decorators import conversation, task, workflow  # noqa: E402
from traceloop.sdk.instruments import Instruments  # noqa: E402

Traceloop.init(
    app_name="capture-traceloop-sdk-openai",
    exporter=OTLPSpanExporter(endpoint=os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]),
    disable_batch=True,
    telemetry_enabled=False,
    instruments={Instruments.OPENAI},
)
client = OpenAI(max_retries=0)
openai_scenarios(client, include=("chat", "chat_stream"))


@task(name="ask_model")
def ask_model():
    return client.chat.completions.create(model=GPT, messages=MESSAGES)


@workflow(name="answer_question")
@conversation(conversation_id="conv-123")
def answer_question():
    Traceloop.set_association_properties({"user_id": "user-7", "session_id": "session-9"})
    ask_model()
    client.embeddings.create(model="text-embedding-3-small", input="hello")


with scenario("association_properties"):
    # Plain calls with association properties in the context (no workflow).
    Traceloop.set_association_properties({"user_id": "user-42", "session_id": "session-1", "customer_id": "cust-3"})
    client.chat.completions.create(model=GPT, messages=MESSAGES)
with scenario("workflow"):
    # workflow -> task -> chat, and an embeddings call directly in the workflow.
    answer_question()
trace.get_tracer_provider().force_flush()
trace.get_tracer_provider().shutdown()
