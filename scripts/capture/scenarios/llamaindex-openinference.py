"""LlamaIndex (llama-index-core with llama-index-llms-openai) traced by OpenInference's LlamaIndex instrumentation.

The LLM's own retry (max_retries) is the openai client's; a FunctionAgent runs the tool loop.
"""

import asyncio
import os

from _common import PROMPT, _failed, app_retry, scenario, setup
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai import OpenAI, OpenAIResponses
from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

provider = setup("capture-llamaindex-openinference")
LlamaIndexInstrumentor().instrument(tracer_provider=provider)
MODEL = "gpt-4o-mini"
BASE = {"api_base": os.environ["OPENAI_BASE_URL"]}  # LlamaIndex reads OPENAI_API_BASE, not OPENAI_BASE_URL
llm = OpenAI(model=MODEL, max_retries=0, **BASE)


def get_capital(country: str) -> str:
    """The capital city of a country."""
    return "Paris"


async def agent_loop():
    # The workflow's handler must be made inside a running event loop.
    return await FunctionAgent(tools=[get_capital], llm=llm).run(f"call-tool-twice: {PROMPT}")


def chat(text: str, model=llm):
    return model.chat([ChatMessage(role="user", content=text)])


with scenario("chat"):
    chat(PROMPT)
with scenario("complete"):
    llm.complete(PROMPT)
with scenario("stream"):
    for _ in llm.stream_chat([ChatMessage(role="user", content=PROMPT)]):
        pass
with scenario("reasoning"):
    chat(PROMPT, OpenAIResponses(model=MODEL, max_retries=0, reasoning_options={"effort": "low"}, **BASE))
with scenario("tool_loop"):
    # A FunctionAgent: get_capital twice, then the answer: three model calls.
    asyncio.run(agent_loop())
with scenario("sdk_retry"):
    chat("rate-limit-once sdk retry", OpenAI(model=MODEL, max_retries=1, **BASE))
with scenario("rate_limited_retry"):
    app_retry(lambda messages: chat(messages[0]["content"]))
with scenario("failed"):
    _failed(lambda: chat("fail-always please"))
provider.shutdown()
