"""Haystack with the traceloop Haystack instrumentation and the same family's OpenAI instrumentation beside it."""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_INSTRUMENTOR"] = "traceloop"
os.environ["CAPTURE_WITH_OPENAI"] = "1"
runpy.run_path(str(Path(__file__).with_name("haystack-openinference.py")), run_name="__main__")
