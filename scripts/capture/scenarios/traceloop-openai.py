"""opentelemetry-instrumentation-openai (Traceloop OpenLLMetry) with the openai SDK, without traceloop-sdk.

The instrumentor is used on its own (no Traceloop.init), so no traceloop.* workflow/association attributes:
those come from traceloop-sdk's span processor. The stand-in's chat usage has prompt_tokens=120 including
cached_tokens=20; Responses usage input_tokens=200 including cached 50.
"""

import os

from _common import scenario, setup
from openai import OpenAI, RateLimitError
from opentelemetry.instrumentation.openai import OpenAIInstrumentor

provider = setup(os.environ.get("CAPTURE_SERVICE", "capture-traceloop-openai"))
OpenAIInstrumentor().instrument(tracer_provider=provider)
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
with scenario("responses"):
    # The Responses API: the stand-in reports input_tokens=200 incl. cached 50, output_tokens=40 incl. reasoning 10.
    client.responses.create(model="gpt-4o-mini", input="What is the capital of France?")
with scenario("responses_stream"):
    for _ in client.responses.create(model="gpt-4o-mini", input="What is the capital of France?", stream=True):
        pass
with scenario("rate_limited_retry"):
    # The app's own retry loop: attempt 1 fails with 429, attempt 2 succeeds.
    retry_messages = [{"role": "user", "content": "rate-limit-once please"}]
    for attempt in range(2):
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=retry_messages)
            break
        except RateLimitError:
            continue
with scenario("sdk_retry"):
    # The SDK's own retry (max_retries=1): the first HTTP attempt gets 429, the SDK retries inside the one call.
    OpenAI(max_retries=1).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "rate-limit-once sdk retry"}])
provider.shutdown()
