"""CrewAI (its native OpenAI provider) traced by OpenInference's CrewAI and OpenAI instrumentations.

OpenInference's CrewAI instrumentation traces crews, tasks and flows only; its docs pair it with a provider
instrumentation for the model calls, as here. CAPTURE_INSTRUMENTOR=traceloop uses Traceloop's CrewAI
instrumentation instead (which wraps LLM.call), alone or, with CAPTURE_WITH_OPENAI=1, with Traceloop's OpenAI
instrumentation. CrewAI's own telemetry (to its servers) is turned off, as there is no network here.

CrewAI retries a rate-limited model call itself (crewai/llms/retry.py, a second try after about 1 s), so the
app never sees the first 429: framework_retry is that retry. An agent also re-runs a failed task step
(max_retry_limit): the failed scenario shows every try.
"""

import os

os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
os.environ["CREWAI_TRACING_ENABLED"] = "false"

from _common import PROMPT, _failed, scenario, setup  # noqa: E402
from crewai import LLM, Agent, Crew, Task  # noqa: E402
from crewai.tools import tool  # noqa: E402

instrumentor = os.environ.get("CAPTURE_INSTRUMENTOR", "openinference")
with_openai = instrumentor == "openinference" or os.environ.get("CAPTURE_WITH_OPENAI") == "1"
provider = setup(f"capture-crewai-{instrumentor}{'-with-openai' if with_openai else ''}")
if instrumentor == "openinference":
    from openinference.instrumentation.crewai import CrewAIInstrumentor
    from openinference.instrumentation.openai import OpenAIInstrumentor
    CrewAIInstrumentor().instrument(tracer_provider=provider)
    OpenAIInstrumentor().instrument(tracer_provider=provider)
else:
    from opentelemetry.instrumentation.crewai import CrewAIInstrumentor
    CrewAIInstrumentor().instrument()
    if with_openai:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
        OpenAIInstrumentor().instrument()

MODEL = "gpt-4o-mini"
BASE = os.environ["OPENAI_BASE_URL"]


def llm(**options) -> LLM:
    return LLM(model=MODEL, base_url=BASE, **{"max_retries": 0, **options})


@tool("get_capital")
def get_capital(country: str) -> str:
    """The capital city of a country."""
    return "Paris"


def crew(text: str, model: LLM | None = None, **agent_options) -> None:
    """One agent with one task: the shape of most CrewAI apps."""
    agent = Agent(role="Geographer", goal="Answer questions about capitals", backstory="You know capitals.",
                  llm=model or llm(), **agent_options)
    task = Task(description=text, expected_output="A short answer.", agent=agent)
    Crew(agents=[agent], tasks=[task]).kickoff()


with scenario("crew"):
    crew(PROMPT)
with scenario("llm_call"):
    # The LLM on its own, outside a crew.
    llm().call(PROMPT)
with scenario("stream"):
    crew(PROMPT, llm(stream=True))
with scenario("reasoning"):
    # The Responses API (usage 200 in incl. 50 cached, 40 out incl. 10 reasoning).
    crew(PROMPT, llm(api="responses"))
with scenario("tool_loop"):
    # get_capital twice, then the answer: three model calls in one task.
    crew(f"call-tool-twice: {PROMPT}", tools=[get_capital])
with scenario("sdk_retry"):
    crew("rate-limit-once sdk retry", llm(max_retries=1))
with scenario("framework_retry"):
    crew("rate-limit-once framework retry")
with scenario("failed"):
    _failed(lambda: crew("fail-always please", max_retry_limit=0))
provider.shutdown()
