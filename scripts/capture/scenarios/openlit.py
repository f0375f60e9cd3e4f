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

from _common import anthropic_scenarios, openai_scenarios

# This script is itself named openlit.py: drop its folder from sys.path so `import openlit` finds the package.
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
import openlit  # noqa: E402
from anthropic import Anthropic  # noqa: E402
from openai import OpenAI  # noqa: E402
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
openai_scenarios(openai_client, include=("chat", "chat_stream", "embeddings", "responses", "responses_stream",
                                         "rate_limited_retry", "failed", "responses_reasoning", "tool_loop"))
# The app's own retry loop against Anthropic, under its own name and prompt.
anthropic_scenarios(anthropic_client,
                    include=("messages", "messages_stream", "messages_stream_raw", "rate_limited_retry", "failed",
                             "thinking", "tool_loop"),
                    names={"rate_limited_retry": "anthropic_rate_limited_retry", "failed": "anthropic_failed",
                           "thinking": "anthropic_thinking", "tool_loop": "anthropic_tool_loop"},
                    retry_prompt="rate-limit-once anthropic please")
openai_scenarios(openai_client, include=("sdk_retry",))
trace.get_tracer_provider().shutdown()
