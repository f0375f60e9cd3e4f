"""Haystack with Traceloop's Haystack instrumentation: haystack-openinference.py's scenarios."""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_INSTRUMENTOR"] = "traceloop"
os.environ["CAPTURE_WITH_OPENAI"] = "0"
runpy.run_path(str(Path(__file__).with_name("haystack-openinference.py")), run_name="__main__")
