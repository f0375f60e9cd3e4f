"""AutoGen (autogen-agentchat / autogen-ext) traced by its own OpenTelemetry spans and OpenInference's
AutoGen AgentChat instrumentation (which wraps the model client's create / create_stream).

AutoGen's own tracing (autogen-core: create_agent, invoke_agent, execute_tool spans) goes to the global
tracer provider and is always on. CAPTURE_INSTRUMENTOR=traceloop uses Traceloop's OpenAI instrumentation
instead of OpenInference's (AutoGen's docs pair its tracing with an OpenAI instrumentation: the
autogen-traceloop variant).
"""

import asyncio
import os

from _common import PROMPT, _failed, app_retry, scenario, setup
from autogen_agentchat.agents import AssistantAgent
from autogen_core.models import UserMessage
from autogen_ext.agents.openai import OpenAIAgent
from autogen_ext.models.openai import OpenAIChatCompletionClient
from openai import AsyncOpenAI

instrumentor = os.environ.get("CAPTURE_INSTRUMENTOR", "openinference")
provider = setup(f"capture-autogen-{instrumentor}")
if instrumentor == "openinference":
    from openinference.instrumentation.autogen_agentchat import AutogenAgentChatInstrumentor
    AutogenAgentChatInstrumentor().instrument(tracer_provider=provider)
else:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument()

MODEL = "gpt-4o-mini"
BASE = os.environ["OPENAI_BASE_URL"]


def model_client(retries: int = 0) -> OpenAIChatCompletionClient:
    return OpenAIChatCompletionClient(model=MODEL, base_url=BASE, max_retries=retries)


async def get_capital(country: str) -> str:
    """The capital city of a country."""
    return "Paris"


def agent(client: OpenAIChatCompletionClient | None = None, **options) -> AssistantAgent:
    return AssistantAgent("capital_agent", model_client=client or model_client(), **options)


async def run(text: str, client: OpenAIChatCompletionClient | None = None) -> None:
    """One agent run, the shape of most AutoGen apps. The agent turns a model error into an exception."""
    await agent(client).run(task=text)


async def main() -> None:
    with scenario("agent_run"):
        await run(PROMPT)
    with scenario("model_client"):
        # The model client on its own, outside an agent.
        await model_client().create([UserMessage(content=PROMPT, source="user")])
    with scenario("stream"):
        async for _ in agent(model_client_stream=True).run_stream(task=PROMPT):
            pass
    with scenario("reasoning"):
        # autogen-ext's OpenAIAgent: the Responses API (usage 200 in incl. 50 cached, 40 out incl. 10 reasoning).
        responses_agent = OpenAIAgent(name="responses_agent", description="Answers.", client=AsyncOpenAI(max_retries=0),
                                      model=MODEL, instructions="Answer briefly.")
        await responses_agent.run(task=PROMPT)
    with scenario("tool_loop"):
        # get_capital twice, then the answer: three model calls in one run.
        await agent(tools=[get_capital], max_tool_iterations=5, reflect_on_tool_use=True).run(
            task=f"call-tool-twice: {PROMPT}")
    with scenario("sdk_retry"):
        await run("rate-limit-once sdk retry", model_client(retries=1))
    with scenario("rate_limited_retry"):
        # app_retry is synchronous: each try runs the agent to the end on a loop of its own thread.
        await asyncio.to_thread(app_retry, lambda messages: asyncio.run(run(messages[0]["content"])))
    with scenario("failed"):
        await asyncio.to_thread(_failed, lambda: asyncio.run(run("fail-always please")))


asyncio.run(main())
provider.shutdown()
