"""opentelemetry-instrumentation-openai-v2 (the OpenTelemetry contrib OpenAI instrumentation).

With opentelemetry-util-genai>=1.0b0 the opt-in below changes nothing: util-genai's is_experimental_mode() always
returns True, so the spans are the same without it (checked: identical attribute keys).
"""

import os

os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"

from _common import openai_scenarios, setup  # noqa: E402
from openai import OpenAI  # noqa: E402
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: E402

provider = setup("capture-openai-v2")
OpenAIInstrumentor().instrument()
openai_scenarios(OpenAI(max_retries=0))  # all of them
provider.shutdown()
