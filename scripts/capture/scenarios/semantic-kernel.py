"""Semantic Kernel (Python) with its own OpenTelemetry GenAI diagnostics, on the OpenAI connector.

SK traces model calls only when SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS is on (set here,
as its docs tell users to). CAPTURE_WITH_OPENAI=1 adds Traceloop's OpenAI instrumentation beside it (the
semantic-kernel-with-openai variant): then each call has SK's span and the provider span. The connector's
openai client is built with max_retries=0 unless a scenario asks for the SDK's own retry.
"""

import asyncio
import os

os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS"] = "true"

from _common import PROMPT, _failed, app_retry, scenario, setup  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402
from semantic_kernel import Kernel  # noqa: E402
from semantic_kernel.agents import OpenAIResponsesAgent  # noqa: E402
from semantic_kernel.connectors.ai.function_choice_behavior import FunctionChoiceBehavior  # noqa: E402
from semantic_kernel.connectors.ai.open_ai import (  # noqa: E402
    OpenAIChatCompletion,
    OpenAIChatPromptExecutionSettings,
)
from semantic_kernel.contents import ChatHistory  # noqa: E402
from semantic_kernel.functions import kernel_function  # noqa: E402

with_openai = os.environ.get("CAPTURE_WITH_OPENAI") == "1"
provider = setup(f"capture-semantic-kernel{'-with-openai' if with_openai else ''}")
if with_openai:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument()

MODEL = "gpt-4o-mini"


def client(retries: int = 0) -> AsyncOpenAI:
    return AsyncOpenAI(max_retries=retries)  # OPENAI_BASE_URL points at the stand-in


def service(retries: int = 0) -> OpenAIChatCompletion:
    return OpenAIChatCompletion(ai_model_id=MODEL, async_client=client(retries))


class Capitals:
    @kernel_function(name="get_capital", description="The capital city of a country.")
    def get_capital(self, country: str) -> str:
        return "Paris"


def history(text: str) -> ChatHistory:
    chat = ChatHistory()
    chat.add_user_message(text)
    return chat


async def chat(text: str, chat_service: OpenAIChatCompletion | None = None) -> None:
    try:
        await (chat_service or service()).get_chat_message_content(history(text), OpenAIChatPromptExecutionSettings())
    except Exception as error:  # SK wraps the SDK's error (ServiceResponseException): the app looks inside
        raise error.__cause__ or error from None


async def main() -> None:
    with scenario("invoke_prompt"):
        # The kernel's prompt function: the shape of most SK apps.
        kernel = Kernel()
        kernel.add_service(service())
        await kernel.invoke_prompt(PROMPT)
    with scenario("chat"):
        await chat(PROMPT)
    with scenario("stream"):
        async for _ in service().get_streaming_chat_message_content(
                history(PROMPT), OpenAIChatPromptExecutionSettings(stream_options={"include_usage": True})):
            pass
    with scenario("reasoning"):
        # The Responses API agent with reasoning (usage 200 in incl. 50 cached, 40 out incl. 10 reasoning).
        agent = OpenAIResponsesAgent(ai_model_id=MODEL, client=client(), name="capital_agent",
                                     instructions="Answer briefly.", reasoning={"effort": "low"})
        await agent.get_response(messages=PROMPT)
    with scenario("tool_loop"):
        # Automatic function calling: get_capital twice, then the answer: three model calls in one invocation.
        kernel = Kernel()
        kernel.add_service(service())
        kernel.add_plugin(Capitals(), plugin_name="capitals")
        settings = OpenAIChatPromptExecutionSettings(function_choice_behavior=FunctionChoiceBehavior.Auto())
        await service().get_chat_message_content(history(f"call-tool-twice: {PROMPT}"), settings, kernel=kernel)
    with scenario("sdk_retry"):
        await chat("rate-limit-once sdk retry", service(retries=1))
    with scenario("rate_limited_retry"):
        # app_retry is synchronous: each try runs the coroutine to the end on a loop of its own thread.
        await asyncio.to_thread(app_retry, lambda messages: asyncio.run(chat(messages[0]["content"])))
    with scenario("failed"):
        await asyncio.to_thread(_failed, lambda: asyncio.run(chat("fail-always please")))


asyncio.run(main())
provider.shutdown()
