"""AzureOpenAI with opentelemetry-instrumentation-openai-v2 (chat, streamed usage, embeddings):
azure-openai-openinference.py's scenarios.
"""

import os
import runpy
from pathlib import Path

os.environ["CAPTURE_INSTRUMENTOR"] = "openai-v2"
runpy.run_path(str(Path(__file__).with_name("azure-openai-openinference.py")), run_name="__main__")
