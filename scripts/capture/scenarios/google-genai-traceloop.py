"""google-genai with the Traceloop instrumentation (opentelemetry-instrumentation-google-generativeai):
google-genai-otel.py's scenarios.
"""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_INSTRUMENTOR"] = "traceloop"
os.environ["CAPTURE_SERVICE"] = "capture-google-genai-traceloop"
runpy.run_path(str(Path(__file__).with_name("google-genai-otel.py")), run_name="__main__")
