"""Traceloop's (OpenLLMetry) OpenAI, Anthropic and google-genai instrumentations on calls that run server-side
tools: server-tools-openinference.py's scenarios, what Traceloop reports of the searches the provider ran.
"""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_INSTRUMENTOR"] = "traceloop"
os.environ["CAPTURE_SERVICE"] = "capture-server-tools-traceloop"
runpy.run_path(str(Path(__file__).with_name("server-tools-openinference.py")), run_name="__main__")
