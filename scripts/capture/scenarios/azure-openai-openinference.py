"""The openai SDK's AzureOpenAI client against Azure OpenAI deployments, traced by OpenInference's OpenAI
instrumentation. CAPTURE_INSTRUMENTOR=openai-v2 uses opentelemetry-instrumentation-openai-v2 (azure-openai-v2.py).

Requests name a deployment ("prod-chat", "prod-embed": fake_provider.AZURE_DEPLOYMENTS), not a model: the
model id is only in the response (gpt-4o-mini-2024-07-18), as on Azure.
"""

import os

import _common
from _common import openai_scenarios, setup
from openai import AzureOpenAI

instrumentor = os.environ.get("CAPTURE_INSTRUMENTOR", "openinference")
provider = setup(f"capture-azure-openai-{instrumentor}")
if instrumentor == "openinference":
    from openinference.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=provider)
else:
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    OpenAIInstrumentor().instrument()

# The shared scenarios call the model by _common.GPT / _common.EMBEDDING: on Azure that is the deployment.
_common.GPT, _common.EMBEDDING = "prod-chat", "prod-embed"
client = AzureOpenAI(max_retries=0)  # AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, OPENAI_API_VERSION
include = ("chat", "chat_stream", "embeddings", "rate_limited_retry", "sdk_retry", "failed", "tool_loop")
if instrumentor == "openinference":
    include += ("responses", "responses_reasoning")
openai_scenarios(client, include=include)
provider.shutdown()
