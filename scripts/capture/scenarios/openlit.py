"""openlit (OpenLIT SDK) with openai and anthropic calls in the same script.

openlit.init() creates its own TracerProvider (resource service.name, deployment.environment,
telemetry.sdk.name=openlit) and OTLP/HTTP span exporter; the exporter reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
which the harness sets (otlp_endpoint only sets OTEL_EXPORTER_OTLP_ENDPOINT, the base). Metrics and log
events are off. Its other default instrumentors stay on (e.g. httpx: plain HTTP CLIENT spans under the LLM spans).
openlit 1.45.0 requires openai<3 and anthropic<1, so anthropic 0.x emits no native SDK spans here.

OpenLIT prices calls itself (gen_ai.usage.cost, USD). Its default price list is fetched from GitHub at init;
here a fixed price list (USD per 1K tokens, below) is passed instead, so the costs are deterministic:
  gpt-4o-mini: (120-20)*0.00015 + 20*0.000075 + 30*0.0006 = 0.0000345 per chat call (/1000)
  claude-sonnet-4-5: 100*0.003 + 300*0.0003 + 50*0.00375 + 25*0.015 = 0.0009525 per messages call (/1000)
"""

import json
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from _common import scenario

# This script is itself named openlit.py: drop its folder from sys.path so `import openlit` finds the package.
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
import openlit  # noqa: E402
from anthropic import Anthropic  # noqa: E402
from anthropic import RateLimitError as AnthropicRateLimitError  # noqa: E402
from openai import OpenAI  # noqa: E402
from openai import RateLimitError as OpenAIRateLimitError  # noqa: E402
from opentelemetry import trace  # noqa: E402

PRICING = {
    "chat": {
        "gpt-4o-mini": {"promptPrice": 0.00015, "completionPrice": 0.0006, "cacheReadPrice": 0.000075},
        "claude-sonnet-4-5": {"promptPrice": 0.003, "completionPrice": 0.015, "cacheReadPrice": 0.0003,
                              "cacheCreationPrice": 0.00375},
    },
    "embeddings": {"text-embedding-3-small": 0.00002},
}
pricing_file = os.path.join(tempfile.mkdtemp(), "pricing.json")
with open(pricing_file, "w") as f:
    json.dump(PRICING, f)

traces = urlsplit(os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
openlit.init(
    service_name="capture-openlit",
    environment="capture",
    otlp_endpoint=f"{traces.scheme}://{traces.netloc}",
    disable_metrics=True,
    disable_events=True,
    pricing_json=pricing_file,
)

openai_client = OpenAI(max_retries=0)
anthropic_client = Anthropic(max_retries=0)
messages = [{"role": "user", "content": "What is the capital of France?"}]
CLAUDE = "claude-sonnet-4-5"

with scenario("chat"):
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=messages)
with scenario("chat_stream"):
    for _ in openai_client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                   stream_options={"include_usage": True}):
        pass
with scenario("embeddings"):
    openai_client.embeddings.create(model="text-embedding-3-small", input="hello")
with scenario("responses"):
    # The Responses API: the stand-in reports input_tokens=200 incl. cached 50, output_tokens=40 incl. reasoning 10.
    openai_client.responses.create(model="gpt-4o-mini", input="What is the capital of France?")
with scenario("rate_limited_retry"):
    # The app's own retry loop: attempt 1 fails with 429, attempt 2 succeeds.
    retry_messages = [{"role": "user", "content": "rate-limit-once please"}]
    for attempt in range(2):
        try:
            openai_client.chat.completions.create(model="gpt-4o-mini", messages=retry_messages)
            break
        except OpenAIRateLimitError:
            continue
with scenario("messages"):
    anthropic_client.messages.create(model=CLAUDE, max_tokens=256, messages=messages)
with scenario("messages_stream"):
    # The SDK's stream helper.
    with anthropic_client.messages.stream(model=CLAUDE, max_tokens=256, messages=messages) as stream:
        for _ in stream.text_stream:
            pass
with scenario("messages_stream_raw"):
    # stream=True: the raw event stream.
    for _ in anthropic_client.messages.create(model=CLAUDE, max_tokens=256, messages=messages, stream=True):
        pass
with scenario("anthropic_rate_limited_retry"):
    # The app's own retry loop against Anthropic: attempt 1 fails with 429, attempt 2 succeeds.
    retry_messages = [{"role": "user", "content": "rate-limit-once anthropic please"}]
    for attempt in range(2):
        try:
            anthropic_client.messages.create(model=CLAUDE, max_tokens=256, messages=retry_messages)
            break
        except AnthropicRateLimitError:
            continue
with scenario("sdk_retry"):
    # The SDK's own retry (max_retries=1): the first HTTP attempt gets 429, the SDK retries inside the one call.
    OpenAI(max_retries=1).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "rate-limit-once sdk retry"}])
trace.get_tracer_provider().shutdown()
