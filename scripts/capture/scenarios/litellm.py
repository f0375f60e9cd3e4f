"""LiteLLM Python SDK with its OpenTelemetry callback (litellm.integrations.opentelemetry.OpenTelemetry).

Exporter: OTEL_EXPORTER=otlp_http and OTEL_ENDPOINT=<traces URL> (what OpenTelemetryConfig.from_env reads; the
harness's OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf also selects OTLP/HTTP and takes precedence over OTEL_EXPORTER).
The callback finds no SDK TracerProvider, so it creates its own (resource service.name=$OTEL_SERVICE_NAME,
deployment.environment=production, model_id) and sets it as the global one; the app's scenario spans use it too.
The callback object is built before the first scenario: "otel" in litellm.callbacks would build it lazily at the
first call, after the first scenario span had already started as a no-op span.

Every call passes the app span as metadata["litellm_parent_otel_span"] (LiteLLM's documented way to parent its
span): each call then gets a `litellm_request` span (scope litellm) under the scenario span, with a
`raw_gen_ai_request` child holding the provider's raw response as llm.<provider>.* strings. Without it LiteLLM
writes onto whatever span is active instead (litellm-active-span.py). LITELLM_LOCAL_MODEL_COST_MAP=True: use the
bundled price map rather than fetching it from GitHub, so gen_ai.cost.* are deterministic.
"""

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["OTEL_EXPORTER"] = "otlp_http"
os.environ["OTEL_ENDPOINT"] = os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
os.environ.setdefault("OTEL_SERVICE_NAME", os.environ.get("CAPTURE_SERVICE", "capture-litellm"))
ACTIVE_SPAN = bool(os.environ.get("CAPTURE_LITELLM_ACTIVE_SPAN"))

from _common import _chat_tool_loop, scenario  # noqa: E402

# This script is itself named litellm.py: drop its folder from sys.path so `import litellm` finds the package.
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
sys.modules.pop("litellm", None)
import litellm  # noqa: E402
from litellm.integrations.opentelemetry import OpenTelemetry  # noqa: E402
from opentelemetry import trace  # noqa: E402

litellm.callbacks = [OpenTelemetry()]

OPENAI = {"api_base": os.environ["OPENAI_BASE_URL"], "api_key": os.environ["OPENAI_API_KEY"]}
ANTHROPIC = {"api_base": os.environ["ANTHROPIC_BASE_URL"], "api_key": os.environ["ANTHROPIC_API_KEY"]}
messages = [{"role": "user", "content": "What is the capital of France?"}]


def parent() -> dict:
    """LiteLLM's documented way to parent its span: metadata["litellm_parent_otel_span"]."""
    return {} if ACTIVE_SPAN else {"metadata": {"litellm_parent_otel_span": trace.get_current_span()}}


def settle() -> None:
    """Success callbacks run on LiteLLM's logging thread pool after the call returns; with ACTIVE_SPAN they write
    onto the app span, so keep it open until they have run (a web request span usually outlives the call)."""
    if ACTIVE_SPAN:
        time.sleep(0.5)


with scenario("chat"):
    litellm.completion(model="openai/gpt-4o-mini", messages=messages, **OPENAI, **parent())
    settle()
if not ACTIVE_SPAN:  # there, a sync stream's span lands in a trace of its own (see litellm-active-span.py)
    with scenario("chat_stream"):
        for _ in litellm.completion(model="openai/gpt-4o-mini", messages=messages, stream=True,
                                    stream_options={"include_usage": True}, **OPENAI, **parent()):
            pass
        settle()
with scenario("embeddings"):
    litellm.embedding(model="openai/text-embedding-3-small", input=["hello"], **OPENAI, **parent())
    settle()
with scenario("anthropic_messages"):
    # The stand-in's Anthropic usage: input_tokens=100 (excl. cache), cache read 300, cache write 50, output 25.
    litellm.completion(model="anthropic/claude-sonnet-4-5", messages=messages, max_tokens=256, **ANTHROPIC,
                       **parent())
    settle()
with scenario("rate_limited_retry"):
    # The app's own retry loop: attempt 1 fails with 429 (no LiteLLM or SDK retry), attempt 2 succeeds.
    retry_messages = [{"role": "user", "content": "rate-limit-once please"}]
    for _attempt in range(2):
        try:
            litellm.completion(model="openai/gpt-4o-mini", messages=retry_messages, num_retries=0, max_retries=0,
                               **OPENAI, **parent())
            break
        except litellm.RateLimitError:
            settle()
            continue
    else:
        raise SystemExit("rate_limited_retry: no attempt succeeded")
    settle()
NO_RETRY = {"num_retries": 0, "max_retries": 0}
with scenario("framework_retry"):
    # LiteLLM's own retry (num_retries=1) around a client that does not retry.
    litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "rate-limit-once litellm"}],
                       num_retries=1, max_retries=0, **OPENAI, **parent())
    settle()
with scenario("tool_loop"):
    # _common's tool loop (get_capital twice, then the answer: three calls) through litellm.completion.
    _chat_tool_loop(SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(
        create=lambda model, **options: litellm.completion(model=f"openai/{model}", **options, **NO_RETRY, **OPENAI,
                                                           **parent())))))
    settle()
with scenario("failed"):
    try:
        litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "fail-always please"}],
                           **NO_RETRY, **OPENAI, **parent())
    except litellm.BadRequestError as error:
        print("failed:", type(error).__name__)
    settle()
time.sleep(1)
trace.get_tracer_provider().shutdown()
