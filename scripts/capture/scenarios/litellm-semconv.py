"""LiteLLM's OTel callback with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental: request spans named
`{operation} {model}` (CLIENT), gen_ai.provider.name instead of gen_ai.system, gen_ai.usage.cache_*.input_tokens,
no raw_gen_ai_request child. Same scenarios as litellm.py."""

import os
import runpy
from pathlib import Path

os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
os.environ["CAPTURE_SERVICE"] = "capture-litellm-semconv"
runpy.run_path(str(Path(__file__).with_name("litellm.py")), run_name="__main__")
