"""pydantic-ai with InstrumentationSettings(version=2) (deprecated data format): span names `agent run` and
`running tool` (tool_arguments/tool_response) instead of `invoke_agent {name}` / `execute_tool {name}`;
same scenarios as pydantic-ai.py."""

import os
import runpy
from pathlib import Path

os.environ["PYDANTIC_AI_INSTRUMENTATION_VERSION"] = "2"
runpy.run_path(str(Path(__file__).with_name("pydantic-ai.py")), run_name="__main__")
