"""DSPy traced by OpenInference's DSPy instrumentation, with its LiteLLM instrumentation beside it (DSPy calls
models through LiteLLM): each call has a DSPy LM span and a LiteLLM span.

The LM is called directly (lm(...)): DSPy's modules parse answers in their own format, which the stand-in's
plain text is not. num_retries is LiteLLM's retry inside the LM call.
"""

import os
import sys
from pathlib import Path

from _common import PROMPT, _failed, app_retry, scenario, setup

# This folder holds litellm.py (another capture): off the import path, or DSPy's `import litellm` runs it.
sys.path.remove(str(Path(__file__).resolve().parent))

import dspy  # noqa: E402
from openinference.instrumentation.dspy import DSPyInstrumentor  # noqa: E402
from openinference.instrumentation.litellm import LiteLLMInstrumentor  # noqa: E402

provider = setup("capture-dspy-openinference")
DSPyInstrumentor().instrument(tracer_provider=provider)
LiteLLMInstrumentor().instrument(tracer_provider=provider)


def lm(retries: int = 0, **options) -> dspy.LM:
    return dspy.LM("openai/gpt-4o-mini", api_base=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"],
                   num_retries=retries, cache=False, **options)


with scenario("call"):
    lm()(PROMPT)
with scenario("messages"):
    lm()(messages=[{"role": "user", "content": PROMPT}])
with scenario("responses"):
    # The Responses API (model_type="responses"): usage 200 in incl. 50 cached, 40 out incl. 10 reasoning.
    lm(model_type="responses")(PROMPT)
with scenario("sdk_retry"):
    try:
        lm(retries=1)("rate-limit-once sdk retry")
    except Exception as error:  # if DSPy does not retry this one itself
        print("sdk_retry:", type(error).__name__)
with scenario("rate_limited_retry"):
    app_retry(lambda messages: lm()(messages[0]["content"]), errors=("RateLimitError", "LMRateLimitError"))
with scenario("failed"):
    _failed(lambda: lm()("fail-always please"))
provider.shutdown()
