"""opentelemetry-instrumentation-openai (Traceloop OpenLLMetry) with the openai SDK, without traceloop-sdk.

The instrumentor is used on its own (no Traceloop.init), so no traceloop.* workflow/association attributes:
those come from traceloop-sdk's span processor. The stand-in's chat usage has prompt_tokens=120 including
cached_tokens=20; Responses usage input_tokens=200 including cached 50.
"""

import os

from _common import openai_scenarios, setup
from openai import OpenAI
from opentelemetry.instrumentation.openai import OpenAIInstrumentor

provider = setup(os.environ.get("CAPTURE_SERVICE", "capture-traceloop-openai"))
OpenAIInstrumentor().instrument(tracer_provider=provider)
openai_scenarios(OpenAI(max_retries=0))  # all of them, responses_stream included
provider.shutdown()
