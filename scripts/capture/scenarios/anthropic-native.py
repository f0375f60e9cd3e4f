"""The anthropic SDK's own OpenTelemetry GenAI spans (anthropic>=1.14.0), no instrumentation library.

The SDK makes one CLIENT span per API call (scope com.anthropic.sdk.python) whenever OpenTelemetry has a
global tracer provider; ANTHROPIC_OPEN_TELEMETRY=false or Anthropic(open_telemetry=False) turns it off.
"""

from _common import scenario, setup
from anthropic import Anthropic, RateLimitError

provider = setup("capture-anthropic-native")
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
