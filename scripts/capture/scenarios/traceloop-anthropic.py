"""opentelemetry-instrumentation-anthropic (Traceloop OpenLLMetry) with the anthropic SDK, without traceloop-sdk.

anthropic>=1.14.0 emits its own GenAI spans (scope com.anthropic.sdk.python) whenever a global tracer provider
is set. They are turned off here (ANTHROPIC_OPEN_TELEMETRY=false) so that this fixture holds the Traceloop
dialect alone; traceloop-anthropic-with-native.py captures the default, both sets of spans.
The stand-in's Messages usage: input_tokens=100 excluding cache_read 300 and cache_creation 50 (as the API does).
"""

import os

if not os.environ.get("CAPTURE_KEEP_ANTHROPIC_NATIVE"):
    os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"

from _common import anthropic_scenarios, setup  # noqa: E402
from anthropic import Anthropic  # noqa: E402
from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor  # noqa: E402

provider = setup(os.environ.get("CAPTURE_SERVICE", "capture-traceloop-anthropic"))
AnthropicInstrumentor().instrument(tracer_provider=provider)
anthropic_scenarios(Anthropic(max_retries=0))  # all of them
provider.shutdown()
