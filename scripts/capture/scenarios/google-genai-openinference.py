"""google-genai with the OpenInference instrumentation (openinference-instrumentation-google-genai):
google-genai-otel.py's scenarios.
"""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_INSTRUMENTOR"] = "openinference"
os.environ["CAPTURE_SERVICE"] = "capture-google-genai-openinference"
runpy.run_path(str(Path(__file__).with_name("google-genai-otel.py")), run_name="__main__")
