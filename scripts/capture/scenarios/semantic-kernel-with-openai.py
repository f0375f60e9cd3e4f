"""Semantic Kernel's own diagnostics with Traceloop's OpenAI instrumentation beside it."""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_WITH_OPENAI"] = "1"
runpy.run_path(str(Path(__file__).with_name("semantic-kernel.py")), run_name="__main__")
