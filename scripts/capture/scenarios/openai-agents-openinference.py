"""The OpenAI Agents SDK (openai-agents) traced by the OpenInference instrumentation
(openinference-instrumentation-openai-agents), which turns the SDK's own traces into OTel spans.

CAPTURE_INSTRUMENTOR=traceloop / logfire run the same scenarios with Traceloop's
opentelemetry-instrumentation-openai-agents or Logfire's instrument_openai_agents() (openai-agents-*.py).
The SDK's default trace export (to the OpenAI platform) is switched off. Its default model is the
Responses API (stand-in usage: 200 in incl. 50 cached, 40 out incl. 10 reasoning).
"""

import asyncio
import os

from _common import PROMPT, scenario, setup
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    retry_policies,
    set_trace_processors,
)
from agents.retry import ModelRetrySettings
from openai import AsyncOpenAI
from openai.types.shared import Reasoning

instrumentor = os.environ.get("CAPTURE_INSTRUMENTOR", "openinference")
provider = setup(f"capture-openai-agents-{instrumentor}")
set_trace_processors([])  # no export to the OpenAI platform; the instrumentors add their own processor
if instrumentor == "openinference":
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
elif instrumentor == "traceloop":
    from opentelemetry.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    OpenAIAgentsInstrumentor().instrument()
elif instrumentor == "logfire":
    import logfire
    logfire.configure(send_to_logfire=False, console=False, service_name="capture-openai-agents-logfire")
    logfire.instrument_openai_agents()

MODEL = "gpt-4o-mini"
no_retry = AsyncOpenAI(max_retries=0)
sdk_retry = AsyncOpenAI(max_retries=1)


@function_tool
def get_capital(country: str) -> str:
    """The capital city of a country."""
    return "Paris"


def agent(model=None, **settings) -> Agent:
    return Agent(name="capital_agent", instructions="Answer briefly.", tools=[get_capital],
                 model=model or OpenAIResponsesModel(MODEL, openai_client=no_retry),
                 model_settings=ModelSettings(**settings))


async def main() -> None:
    with scenario("run"):
        await Runner.run(agent(), PROMPT)
    with scenario("run_chat_completions"):
        # Chat Completions (usage 120 in incl. 20 cached, 30 out).
        await Runner.run(agent(OpenAIChatCompletionsModel(MODEL, openai_client=no_retry)), PROMPT)
    with scenario("reasoning"):
        await Runner.run(agent(reasoning=Reasoning(effort="low", summary="auto")), PROMPT)
    with scenario("tool_loop"):
        # get_capital twice, then the answer: three model calls in one run.
        await Runner.run(agent(), f"call-tool-twice: {PROMPT}")
    with scenario("stream"):
        result = Runner.run_streamed(agent(), PROMPT)
        async for _ in result.stream_events():
            pass
    with scenario("sdk_retry"):
        # The openai client's own retry (max_retries=1) under the agent.
        await Runner.run(agent(OpenAIResponsesModel(MODEL, openai_client=sdk_retry)), "rate-limit-once sdk retry")
    with scenario("runner_retry"):
        # The Agents SDK's runner-managed retry of the model call.
        await Runner.run(agent(retry=ModelRetrySettings(max_retries=1, backoff={"initial_delay": 0.01},
                                                       policy=retry_policies.http_status([429]))),
                         "rate-limit-once runner retry")
    with scenario("rate_limited_retry"):
        # The app's own retry: the whole run again after a RateLimitError.
        for _ in range(2):
            try:
                await Runner.run(agent(), "rate-limit-once please")
                break
            except Exception as error:
                if type(error).__name__ != "RateLimitError":
                    raise
    with scenario("failed"):
        try:
            await Runner.run(agent(), "fail-always please")
        except Exception as error:
            print("failed:", type(error).__name__)


asyncio.run(main())
provider.shutdown()
