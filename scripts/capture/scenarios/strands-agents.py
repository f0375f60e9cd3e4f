"""Strands Agents with its built-in OpenTelemetry tracing (GenAI names, gen_ai.system / gen_ai.provider.name
"strands-agents": the framework named where the provider goes). Bedrock (ConverseStream) by default, and its
OpenAI model. Strands' own ModelRetryStrategy retries throttling; botocore's retries are off.
"""

import os

from _bedrock import CLAUDE_BEDROCK
from _common import PROMPT, scenario, setup
from botocore.config import Config
from strands import Agent, tool
from strands.agent.agent import ModelRetryStrategy
from strands.models import BedrockModel
from strands.models.openai import OpenAIModel
from strands.telemetry import StrandsTelemetry

provider = setup("capture-strands")
StrandsTelemetry(tracer_provider=provider)


@tool
def get_capital(country: str) -> str:
    """The capital city of a country."""
    return "Paris"


def bedrock(**config) -> BedrockModel:
    return BedrockModel(model_id=CLAUDE_BEDROCK, boto_client_config=Config(retries={"total_max_attempts": 1}), **config)


def agent(model=None, retry=None) -> Agent:
    return Agent(model=model or bedrock(), tools=[get_capital], callback_handler=None, retry_strategy=retry)


def run(name: str, prompt: str = PROMPT, **kwargs) -> None:
    with scenario(name):
        try:
            agent(**kwargs)(prompt)
        except Exception as error:  # the failed scenarios
            print(f"{name}:", type(error).__name__)


run("invoke")
run("tool_loop", f"call-tool-twice: {PROMPT}")
run("reasoning", model=bedrock(additional_request_fields={"thinking": {"type": "enabled", "budget_tokens": 1024}}))
run("non_streaming", model=bedrock(streaming=False))
run("framework_retry", "rate-limit-once framework retry",
    retry=ModelRetryStrategy(max_attempts=2, initial_delay=0, max_delay=0))
with scenario("rate_limited_retry"):
    for _ in range(2):
        try:
            agent()("rate-limit-once please")
            break
        except Exception as error:  # strands' ModelThrottledException
            print("rate_limited_retry:", type(error).__name__)
run("failed", "fail-always please")
openai_model = OpenAIModel(client_args={"base_url": os.environ["OPENAI_BASE_URL"], "max_retries": 0},
                           model_id="gpt-4o-mini")
run("openai", model=openai_model)
run("openai_tool_loop", f"call-tool-twice: {PROMPT}", model=openai_model)
provider.shutdown()
