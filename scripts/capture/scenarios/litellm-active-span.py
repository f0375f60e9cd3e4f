"""LiteLLM's OTel callback called inside an app span WITHOUT metadata["litellm_parent_otel_span"] (LiteLLM's default).

With a span active and USE_OTEL_LITELLM_REQUEST_SPAN unset, LiteLLM makes no `litellm_request` span: its success
and failure handlers (run on its logging thread pool, with the caller's context copied) stamp every attribute onto
the app's active span (here `scenario <name>`, scope capture-app) and add a `raw_gen_ai_request` child. Each
scenario keeps its span open until the handlers ran (settle()); when the app span ends first, the attributes are
dropped ("Setting attribute on ended span"). Same scenarios as litellm.py but chat_stream, left out: a sync stream's
success handler runs without the caller's context, so it makes a root `litellm_request` span in a trace of its own
(no request.id, no tenant) whatever the app does; seen in trial runs, not kept in the fixture.
"""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_LITELLM_ACTIVE_SPAN"] = "1"
os.environ["CAPTURE_SERVICE"] = "capture-litellm-active-span"
runpy.run_path(str(Path(__file__).with_name("litellm.py")), run_name="__main__")
