"""pydantic-ai (pydantic-ai-slim) with its built-in OpenTelemetry instrumentation, default settings.

`Agent.instrument_all(InstrumentationSettings())` is what `logfire.instrument_pydantic_ai()` does; the data
format is InstrumentationSettings.version (default 5 here; 2-4 deprecated, 6 opt-in) and the agent-run span
carries `gen_ai.aggregated_usage.*` (use_aggregated_usage_attribute_names=True, the default).
Set PYDANTIC_AI_INSTRUMENTATION_VERSION / PYDANTIC_AI_AGGREGATED_NAMES=0 by hand to look at the other formats.
"""

import asyncio
import os

from _common import scenario, setup
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI
from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider

provider = setup("capture-pydantic-ai")
settings = {}
if os.environ.get("PYDANTIC_AI_INSTRUMENTATION_VERSION"):
    settings["version"] = int(os.environ["PYDANTIC_AI_INSTRUMENTATION_VERSION"])
if os.environ.get("PYDANTIC_AI_AGGREGATED_NAMES") == "0":
    settings["use_aggregated_usage_attribute_names"] = False
Agent.instrument_all(InstrumentationSettings(**settings))

openai_provider = OpenAIProvider(base_url=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"])
# No SDK retries: the 429 shows up as a failed model request.
no_retry_provider = OpenAIProvider(openai_client=AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"], max_retries=0))
anthropic_provider = AnthropicProvider(anthropic_client=AsyncAnthropic(base_url=os.environ["ANTHROPIC_BASE_URL"]))
chat_model = OpenAIChatModel("gpt-4o-mini", provider=openai_provider)
# 'openai:gpt-4o-mini' resolves to the Responses API in this version.
responses_model = OpenAIResponsesModel("gpt-4o-mini", provider=openai_provider)
PROMPT = "What is the capital of France?"


async def main() -> None:
    with scenario("agent_run"):
        await Agent(chat_model, name="capital_agent").run(PROMPT)
    with scenario("agent_run_responses"):
        await Agent(responses_model, name="capital_agent").run(PROMPT)

    tool_agent = Agent(chat_model, name="tool_agent")

    @tool_agent.tool_plain
    def get_capital(country: str) -> str:
        """The capital city of a country."""
        return "Paris"

    with scenario("agent_tool_loop"):
        # The stand-in answers "call-tool-once" with a call of get_capital, then with text: two model requests.
        await tool_agent.run(f"call-tool-once: {PROMPT}")
    with scenario("anthropic_run"):
        await Agent(AnthropicModel("claude-sonnet-4-5", provider=anthropic_provider), name="claude_agent").run(PROMPT)
    with scenario("stream"):
        async with Agent(chat_model, name="stream_agent").run_stream(PROMPT) as result:
            async for _ in result.stream_text():
                pass
    with scenario("model_error"):
        try:
            await Agent(OpenAIChatModel("gpt-4o-mini", provider=no_retry_provider), name="error_agent").run(
                "rate-limit-once please")
        except Exception as error:  # pydantic_ai.exceptions.ModelHTTPError (429)
            print("model_error:", type(error).__name__)
    no_retry_model = OpenAIChatModel("gpt-4o-mini", provider=no_retry_provider)
    with scenario("rate_limited_retry"):
        # The app runs the agent again after the 429: a new agent run.
        for _attempt in range(2):
            try:
                await Agent(no_retry_model, name="retry_agent").run("rate-limit-once app retry")
                break
            except Exception as error:  # ModelHTTPError (429)
                print("rate_limited_retry:", type(error).__name__)
    with scenario("sdk_retry"):
        # The openai client's own retry (its default max_retries) inside one model request.
        await Agent(chat_model, name="capital_agent").run("rate-limit-once sdk retry")
    with scenario("reasoning"):
        # The Responses API with reasoning (usage 200 in incl. 50 cached, 40 out incl. 10 reasoning).
        await Agent(responses_model, name="capital_agent",
                    model_settings={"openai_reasoning_effort": "low"}).run(PROMPT)
    with scenario("tool_loop"):
        # get_capital twice, then the answer: three model requests in one run.
        await tool_agent.run(f"call-tool-twice: {PROMPT}")
    with scenario("failed"):
        try:
            await Agent(no_retry_model, name="error_agent").run("fail-always please")
        except Exception as error:  # ModelHTTPError (400)
            print("failed:", type(error).__name__)


asyncio.run(main())
provider.shutdown()
