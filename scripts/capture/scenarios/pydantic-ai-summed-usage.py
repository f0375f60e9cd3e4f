"""pydantic-ai with use_aggregated_usage_attribute_names=False: the agent-run span carries the run's summed usage
as plain gen_ai.usage.* (what pydantic-ai did before gen_ai.aggregated_usage.*); same scenarios as pydantic-ai.py."""

import os
import runpy
from pathlib import Path

os.environ["PYDANTIC_AI_AGGREGATED_NAMES"] = "0"
runpy.run_path(str(Path(__file__).with_name("pydantic-ai.py")), run_name="__main__")
