"""Google ADK (Agent Development Kit) with its built-in OpenTelemetry tracing, on the Gemini API.

ADK traces to the global tracer provider: invoke_agent, call_llm (the model call, with usage) and
execute_tool spans. The model is reached through google-genai (GOOGLE_GEMINI_BASE_URL points at the stand-in).
"""

import asyncio

from _common import PROMPT, scenario, setup
from _gemini import GEMINI
from google.adk.agents import LlmAgent
from google.adk.runners import InMemoryRunner
from google.genai import types

provider = setup("capture-google-adk")


def get_capital(country: str) -> str:
    """The capital city of a country."""
    return "Paris"


async def run(name: str, prompt: str, **agent_options) -> None:
    agent = LlmAgent(name="capital_agent", model=GEMINI, instruction="Answer briefly.", tools=[get_capital],
                     **agent_options)
    runner = InMemoryRunner(agent=agent, app_name="capture")
    session = await runner.session_service.create_session(app_name="capture", user_id="u-1")
    with scenario(name):
        try:
            async for _ in runner.run_async(user_id="u-1", session_id=session.id,
                                            new_message=types.Content(role="user", parts=[types.Part(text=prompt)])):
                pass
        except Exception as error:  # the failed scenarios
            print(f"{name}:", type(error).__name__)


async def main() -> None:
    await run("run", PROMPT)
    await run("thinking", PROMPT, generate_content_config=types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=1024)))
    await run("tool_loop", f"call-tool-twice: {PROMPT}")
    await run("rate_limited", "rate-limit-once please")
    await run("failed", "fail-always please")


asyncio.run(main())
provider.shutdown()
