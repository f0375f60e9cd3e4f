"""opentelemetry-instrumentation-anthropic (Traceloop OpenLLMetry) with the anthropic SDK, without traceloop-sdk.

anthropic>=1.14.0 emits its own GenAI spans (scope com.anthropic.sdk.python) whenever a global tracer provider
is set. They are turned off here (ANTHROPIC_OPEN_TELEMETRY=false) so that this fixture holds the Traceloop
dialect alone; traceloop-anthropic-with-native.py captures the default, both sets of spans.
The stand-in's Messages usage: input_tokens=100 excluding cache_read 300 and cache_creation 50 (as the API does).
"""

import os

if not os.environ.get("CAPTURE_KEEP_ANTHROPIC_NATIVE"):
    os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"

from _common import scenario, setup  # noqa: E402
from anthropic import Anthropic, RateLimitError  # noqa: E402
from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor  # noqa: E402

provider = setup(os.environ.get("CAPTURE_SERVICE", "capture-traceloop-anthropic"))
AnthropicInstrumentor().instrument(tracer_provider=provider)
client = Anthropic(max_retries=0)
MODEL = "claude-sonnet-4-5"
messages = [{"role": "user", "content": "What is the capital of France?"}]

with scenario("messages"):
    client.messages.create(model=MODEL, max_tokens=256, messages=messages)
with scenario("messages_stream"):
    # The SDK's stream helper.
    with client.messages.stream(model=MODEL, max_tokens=256, messages=messages) as stream:
        for _ in stream.text_stream:
            pass
with scenario("messages_stream_raw"):
    # stream=True: the raw event stream.
    for _ in client.messages.create(model=MODEL, max_tokens=256, messages=messages, stream=True):
        pass
with scenario("rate_limited_retry"):
    # The app's own retry loop: attempt 1 fails with 429, attempt 2 succeeds.
    retry_messages = [{"role": "user", "content": "rate-limit-once please"}]
    for attempt in range(2):
        try:
            client.messages.create(model=MODEL, max_tokens=256, messages=retry_messages)
            break
        except RateLimitError:
            continue
with scenario("sdk_retry"):
    # The SDK's own retry (max_retries=1): the first HTTP attempt gets 429, the SDK retries inside the one call.
    Anthropic(max_retries=1).messages.create(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "rate-limit-once sdk retry"}])
provider.shutdown()
