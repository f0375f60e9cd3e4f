"""The anthropic SDK's own OpenTelemetry GenAI spans (anthropic>=1.14.0), no instrumentation library.

The SDK makes one CLIENT span per API call (scope com.anthropic.sdk.python) whenever OpenTelemetry has a
global tracer provider; ANTHROPIC_OPEN_TELEMETRY=false or Anthropic(open_telemetry=False) turns it off.
"""

from _common import anthropic_scenarios, setup
from anthropic import Anthropic

provider = setup("capture-anthropic-native")
anthropic_scenarios(Anthropic(max_retries=0))  # all of them
provider.shutdown()
