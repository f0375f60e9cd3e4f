"""Haystack (haystack-ai: pipelines, chat generators, the Agent) traced by OpenInference's Haystack instrumentation.

CAPTURE_INSTRUMENTOR=traceloop uses Traceloop's opentelemetry-instrumentation-haystack instead;
CAPTURE_WITH_OPENAI=1 adds the same family's OpenAI instrumentation beside it, as users do (the
haystack-*-with-openai variants): then each call has a framework span and a provider span.
Haystack 3 has no OpenTelemetry tracer of its own (2.x's auto-enabled one is gone).
"""

import os

from _common import PROMPT, _failed, app_retry, scenario, setup
from haystack import Pipeline
from haystack.components.agents import Agent
from haystack.components.builders import ChatPromptBuilder
from haystack.components.generators.chat import OpenAIChatGenerator, OpenAIResponsesChatGenerator
from haystack.core.errors import PipelineRuntimeError
from haystack.dataclasses import ChatMessage
from haystack.tools import Tool

instrumentor = os.environ.get("CAPTURE_INSTRUMENTOR", "openinference")
with_openai = os.environ.get("CAPTURE_WITH_OPENAI") == "1"
provider = setup(f"capture-haystack-{instrumentor}{'-with-openai' if with_openai else ''}")
if instrumentor == "openinference":
    from openinference.instrumentation.haystack import HaystackInstrumentor
    HaystackInstrumentor().instrument(tracer_provider=provider)
    if with_openai:
        from openinference.instrumentation.openai import OpenAIInstrumentor
        OpenAIInstrumentor().instrument(tracer_provider=provider)
else:
    from opentelemetry.instrumentation.haystack import HaystackInstrumentor
    HaystackInstrumentor().instrument()
    if with_openai:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
        OpenAIInstrumentor().instrument()

MODEL = "gpt-4o-mini"
BASE = {"api_base_url": os.environ["OPENAI_BASE_URL"]}


def generator(**options) -> OpenAIChatGenerator:
    return OpenAIChatGenerator(model=MODEL, **{"max_retries": 0, **BASE, **options})


def ask(text: str, llm: OpenAIChatGenerator | OpenAIResponsesChatGenerator | None = None) -> dict:
    """A prompt-builder -> chat-generator pipeline, the shape of most Haystack apps."""
    pipeline = Pipeline()
    pipeline.add_component("prompt", ChatPromptBuilder(template=[ChatMessage.from_user("{{question}}")],
                                                       required_variables=["question"]))
    pipeline.add_component("llm", llm or generator())
    pipeline.connect("prompt.prompt", "llm.messages")
    try:
        return pipeline.run({"prompt": {"question": text}})
    except PipelineRuntimeError as error:  # the app handles the provider's error the pipeline wraps
        raise error.__cause__ or error from None


def get_capital(country: str) -> str:
    return "Paris"


capital_tool = Tool(name="get_capital", description="The capital city of a country.", function=get_capital,
                    parameters={"type": "object", "properties": {"country": {"type": "string"}},
                                "required": ["country"]})

with scenario("pipeline"):
    ask(PROMPT)
with scenario("generator"):
    # The component run on its own, outside a pipeline.
    generator().run([ChatMessage.from_user(PROMPT)])
with scenario("stream"):
    ask(PROMPT, generator(streaming_callback=lambda chunk: None,
                          generation_kwargs={"stream_options": {"include_usage": True}}))
with scenario("reasoning"):
    # The Responses API with reasoning (usage 200 in incl. 50 cached, 40 out incl. 10 reasoning).
    ask(PROMPT, OpenAIResponsesChatGenerator(model=MODEL, max_retries=0, **BASE,
                                             generation_kwargs={"reasoning": {"effort": "low", "summary": "auto"}}))
with scenario("tool_loop"):
    # Haystack's Agent: get_capital twice, then the answer: three model calls.
    agent = Agent(chat_generator=generator(), tools=[capital_tool])
    agent.warm_up()
    agent.run([ChatMessage.from_user(f"call-tool-twice: {PROMPT}")])
with scenario("sdk_retry"):
    ask("rate-limit-once sdk retry", generator(max_retries=1))
with scenario("rate_limited_retry"):
    app_retry(lambda messages: ask(messages[0]["content"]))
with scenario("failed"):
    _failed(lambda: ask("fail-always please"))
provider.shutdown()
