"""openinference-instrumentation-openai (Arize OpenInference) with the openai SDK.

It wraps OpenAI.request, so every SDK call (chat, embeddings, responses) gets one LLM/EMBEDDING span.
`responses` is an extra scenario: the stand-in's Responses usage has reasoning tokens and cached tokens.
"""

from _common import scenario, setup
from openai import OpenAI, RateLimitError
from openinference.instrumentation.openai import OpenAIInstrumentor

provider = setup("capture-openinference-openai")
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
    client.responses.create(model="gpt-4o-mini", input="What is the capital of France?")
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
