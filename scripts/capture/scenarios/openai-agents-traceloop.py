"""The OpenAI Agents SDK with Traceloop's opentelemetry-instrumentation-openai-agents:
openai-agents-openinference.py's scenarios.
"""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_INSTRUMENTOR"] = "traceloop"
runpy.run_path(str(Path(__file__).with_name("openai-agents-openinference.py")), run_name="__main__")
