"""Traceloop's (OpenLLMetry) OpenAI, Anthropic and google-genai instrumentations on calls that run server-side
tools (_server_tools.py): what they report of the searches the provider ran.
"""

import os

os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"  # before anthropic loads: Traceloop spans only

from _common import setup  # noqa: E402
from _server_tools import server_tool_scenarios  # noqa: E402
from anthropic import Anthropic  # noqa: E402
from google import genai  # noqa: E402
from openai import OpenAI  # noqa: E402
from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor  # noqa: E402
from opentelemetry.instrumentation.google_generativeai import GoogleGenerativeAiInstrumentor  # noqa: E402
from opentelemetry.instrumentation.openai import OpenAIInstrumentor  # noqa: E402

provider = setup("capture-server-tools-traceloop")
for instrumentor in (OpenAIInstrumentor(), AnthropicInstrumentor(), GoogleGenerativeAiInstrumentor()):
    instrumentor.instrument(tracer_provider=provider)
server_tool_scenarios(OpenAI(max_retries=0), Anthropic(max_retries=0),
                      genai.Client(api_key=os.environ["GOOGLE_API_KEY"],
                                   http_options={"base_url": os.environ["GEMINI_BASE_URL"]}))
provider.shutdown()
