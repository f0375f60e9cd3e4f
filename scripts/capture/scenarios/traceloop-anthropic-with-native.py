"""opentelemetry-instrumentation-anthropic (Traceloop) with the anthropic SDK's own spans left on (the SDK's default).

Same scenarios as traceloop-anthropic.py; each call then has a Traceloop span AND the SDK's
com.anthropic.sdk.python span: two spans with usage for one call (a double-counting case).
"""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_KEEP_ANTHROPIC_NATIVE"] = "1"
os.environ["CAPTURE_SERVICE"] = "capture-traceloop-anthropic-with-native"
runpy.run_path(str(Path(__file__).with_name("traceloop-anthropic.py")), run_name="__main__")
