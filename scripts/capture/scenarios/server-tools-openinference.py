"""OpenInference's OpenAI, Anthropic and google-genai instrumentations on calls that run server-side tools
(_server_tools.py): the counts are only in the provider's response, which OpenInference keeps as output.value.
With CAPTURE_INSTRUMENTOR=traceloop, Traceloop's three instead (server-tools-traceloop.py).
"""

import os

os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"  # before anthropic loads: the instrumentation's spans only

from _common import setup  # noqa: E402
from _server_tools import server_tool_scenarios  # noqa: E402
from anthropic import Anthropic  # noqa: E402
from google import genai  # noqa: E402
from openai import OpenAI  # noqa: E402

if os.environ.get("CAPTURE_INSTRUMENTOR") == "traceloop":
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
    from opentelemetry.instrumentation.google_generativeai import GoogleGenerativeAiInstrumentor as GeminiInstrumentor
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor
else:
    from openinference.instrumentation.anthropic import AnthropicInstrumentor
    from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor as GeminiInstrumentor
    from openinference.instrumentation.openai import OpenAIInstrumentor

provider = setup(os.environ.get("CAPTURE_SERVICE", "capture-server-tools-openinference"))
for instrumentor in (OpenAIInstrumentor(), AnthropicInstrumentor(), GeminiInstrumentor()):
    instrumentor.instrument(tracer_provider=provider)
server_tool_scenarios(OpenAI(max_retries=0), Anthropic(max_retries=0),
                      genai.Client(api_key=os.environ["GOOGLE_API_KEY"],
                                   http_options={"base_url": os.environ["GEMINI_BASE_URL"]}))
provider.shutdown()
