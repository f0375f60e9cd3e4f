"""boto3 bedrock-runtime with Traceloop's opentelemetry-instrumentation-bedrock:
bedrock-openinference.py's scenarios.
"""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_INSTRUMENTOR"] = "traceloop"
runpy.run_path(str(Path(__file__).with_name("bedrock-openinference.py")), run_name="__main__")
