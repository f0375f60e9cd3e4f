"""opentelemetry-instrumentation-openai 0.47.5 (Traceloop OpenLLMetry, ~a year older) with openai 1.x.

The last release on the pre-0.5 opentelemetry-semantic-conventions-ai names: gen_ai.usage.prompt_tokens /
completion_tokens, llm.usage.total_tokens, gen_ai.usage.cache_read_input_tokens, llm.is_streaming,
llm.request.type, gen_ai.system. Same scenarios as traceloop-openai.py.
"""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_SERVICE"] = "capture-traceloop-openai-legacy"
runpy.run_path(str(Path(__file__).with_name("traceloop-openai.py")), run_name="__main__")
