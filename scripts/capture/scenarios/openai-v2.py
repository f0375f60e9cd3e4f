"""opentelemetry-instrumentation-openai-v2 (the OpenTelemetry contrib OpenAI instrumentation).

With opentelemetry-util-genai>=1.0b0 the opt-in below changes nothing: util-genai's is_experimental_mode() always
returns True, so the spans are the same without it (checked: identical attribute keys).
"""

import os

os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"

from _common import scenario, setup  # noqa: E402
from openai import OpenAI  # noqa: E402
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: E402

provider = setup("capture-openai-v2")
OpenAIInstrumentor().instrument()
client = OpenAI(max_retries=0)
messages = [{"role": "user", "content": "What is the capital of France?"}]

with scenario("chat"):
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
with scenario("chat_stream"):
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                            stream_options={"include_usage": True}):
        pass
with scenario("embeddings"):
    client.embeddings.create(model="text-embedding-3-small", input="hello")
with scenario("rate_limited_retry"):
    # The app's own retry loop: attempt 1 fails with 429, attempt 2 succeeds.
    retry_messages = [{"role": "user", "content": "rate-limit-once please"}]
    for attempt in range(2):
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=retry_messages)
            break
        except Exception:  # openai.RateLimitError
            continue
with scenario("sdk_retry"):
    # The SDK's own retry (max_retries=1): the first HTTP attempt gets 429, the SDK retries inside the one call.
    OpenAI(max_retries=1).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "rate-limit-once sdk retry"}])
provider.shutdown()
