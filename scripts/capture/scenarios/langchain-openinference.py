"""LangChain (langchain-openai) and LangGraph traced by OpenInference's LangChain instrumentation.

CAPTURE_INSTRUMENTOR=traceloop uses Traceloop's opentelemetry-instrumentation-langchain instead;
CAPTURE_WITH_OPENAI=1 adds the same family's OpenAI instrumentation beside it, as users do (the
langchain-*-with-openai variants): then each call has a framework span and a provider span.
"""

import os

from _common import PROMPT, _failed, app_retry, scenario, setup
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from langgraph.prebuilt import create_react_agent

instrumentor = os.environ.get("CAPTURE_INSTRUMENTOR", "openinference")
with_openai = os.environ.get("CAPTURE_WITH_OPENAI") == "1"
provider = setup(f"capture-langchain-{instrumentor}{'-with-openai' if with_openai else ''}")
if instrumentor == "openinference":
    from openinference.instrumentation.langchain import LangChainInstrumentor
    LangChainInstrumentor().instrument(tracer_provider=provider)
    if with_openai:
        from openinference.instrumentation.openai import OpenAIInstrumentor
        OpenAIInstrumentor().instrument(tracer_provider=provider)
else:
    from opentelemetry.instrumentation.langchain import LangchainInstrumentor
    LangchainInstrumentor().instrument()
    if with_openai:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
        OpenAIInstrumentor().instrument()

MODEL = "gpt-4o-mini"
llm = ChatOpenAI(model=MODEL, max_retries=0)


@tool
def get_capital(country: str) -> str:
    """The capital city of a country."""
    return "Paris"


with scenario("invoke"):
    llm.invoke(PROMPT)
with scenario("stream"):
    for _ in ChatOpenAI(model=MODEL, max_retries=0, stream_usage=True).stream(PROMPT):
        pass
with scenario("reasoning"):
    # The Responses API with reasoning (usage 200 in incl. 50 cached, 40 out incl. 10 reasoning).
    ChatOpenAI(model=MODEL, max_retries=0, use_responses_api=True, reasoning={"effort": "low"}).invoke(PROMPT)
with scenario("embeddings"):
    # check_embedding_ctx_length=False: no tiktoken download (no internet here).
    OpenAIEmbeddings(model="text-embedding-3-small", max_retries=0, check_embedding_ctx_length=False).embed_query(
        "hello")
with scenario("tool_loop"):
    # A LangGraph ReAct agent: get_capital twice, then the answer: three model calls.
    create_react_agent(llm, [get_capital]).invoke({"messages": [("user", f"call-tool-twice: {PROMPT}")]})
with scenario("sdk_retry"):
    ChatOpenAI(model=MODEL, max_retries=1).invoke("rate-limit-once sdk retry")
with scenario("framework_retry"):
    # LangChain's own retry of the runnable (with_retry).
    llm.with_retry(stop_after_attempt=2, wait_exponential_jitter=False).invoke("rate-limit-once framework retry")
with scenario("rate_limited_retry"):
    app_retry(lambda messages: llm.invoke(messages[0]["content"]), errors=("RateLimitError", "OpenAIRateLimitError"))
with scenario("failed"):
    _failed(lambda: llm.invoke("fail-always please"))
provider.shutdown()
