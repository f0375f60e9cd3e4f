"""google-genai with opentelemetry-instrumentation-google-genai (the OpenTelemetry contrib instrumentation).

Scenarios: _gemini.py. The stand-in's Gemini usage: stand_in_gemini.USAGE (thoughts beside candidates).
"""

import os

from _common import setup
from _gemini import gemini_scenarios
from google import genai

NAME = os.environ.get("CAPTURE_SERVICE", "capture-google-genai-otel")
provider = setup(NAME)
instrumentor = os.environ.get("CAPTURE_INSTRUMENTOR", "otel")
if instrumentor == "otel":
    from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor
    GoogleGenAiSdkInstrumentor().instrument()
elif instrumentor == "openinference":
    from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor
    GoogleGenAIInstrumentor().instrument(tracer_provider=provider)
elif instrumentor == "traceloop":
    from opentelemetry.instrumentation.google_generativeai import GoogleGenerativeAiInstrumentor
    GoogleGenerativeAiInstrumentor().instrument()


def client(**http_options):
    return genai.Client(api_key=os.environ["GOOGLE_API_KEY"],
                        http_options={"base_url": os.environ["GEMINI_BASE_URL"], **http_options})


gemini_scenarios(client(), client(retry_options={"attempts": 2, "initial_delay": 0.01, "max_delay": 0.05}))
provider.shutdown()
