"""AutoGen's own tracing with Traceloop's OpenAI instrumentation: autogen-openinference.py's scenarios."""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_INSTRUMENTOR"] = "traceloop"
runpy.run_path(str(Path(__file__).with_name("autogen-openinference.py")), run_name="__main__")
