"""openinference-instrumentation-openai (Arize OpenInference) with the openai SDK.

It wraps OpenAI.request, so every SDK call (chat, embeddings, responses) gets one LLM/EMBEDDING span.
`responses` is an extra scenario: the stand-in's Responses usage has reasoning tokens and cached tokens.
"""

from _common import openai_scenarios, setup
from openai import OpenAI
from openinference.instrumentation.openai import OpenAIInstrumentor

provider = setup("capture-openinference-openai")
OpenAIInstrumentor().instrument(tracer_provider=provider)
openai_scenarios(OpenAI(max_retries=0))  # all of them
provider.shutdown()
