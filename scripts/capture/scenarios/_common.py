"""Shared by the Python scenario scripts: the tracer provider, the per-scenario app span, and the scenarios that
several libraries run with the plain openai / anthropic SDK clients.

Each scenario runs in its own trace under an app span carrying request.id=<scenario>, tenant.id and
feature.name, as an instrumented app would set them; the fixture tests map rows back by request_id.

openai_scenarios() / anthropic_scenarios() take an already-built SDK client (duck-typed: only its methods are
called, so this module imports nothing but opentelemetry) and run the chosen scenarios, always in the order of
OPENAI_SCENARIOS / ANTHROPIC_SCENARIOS. The stand-in keys its behaviour off the request content
("rate-limit-once ..."), so the prompts here are part of what the fixtures hold.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

GPT = "gpt-4o-mini"
EMBEDDING = "text-embedding-3-small"
CLAUDE = "claude-sonnet-4-5"
PROMPT = "What is the capital of France?"
MESSAGES = [{"role": "user", "content": PROMPT}]


def setup(service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])))
    trace.set_tracer_provider(provider)
    return provider


@contextlib.contextmanager
def scenario(name: str, feature: str = "capture"):
    tracer = trace.get_tracer("capture-app")
    with tracer.start_as_current_span(f"scenario {name}", attributes={
        "request.id": name, "tenant.id": "capture-tenant", "feature.name": feature,
    }):
        yield


def app_retry(call: Callable[[list[dict]], object], prompt: str = "rate-limit-once please",
              errors: tuple[str, ...] = ("RateLimitError",)) -> None:
    """The app's own retry loop: attempt 1 fails with 429, attempt 2 succeeds. `call(messages)` makes one call;
    `errors` names the SDK's rate-limit exception classes (openai / anthropic: RateLimitError)."""
    messages = [{"role": "user", "content": prompt}]
    for _attempt in range(2):
        try:
            call(messages)
            return
        except Exception as error:  # anything but the SDK's rate-limit error is a real failure
            name = type(error).__name__
            code = getattr(error, "response", None)
            code = code.get("Error", {}).get("Code") if isinstance(code, dict) else None  # botocore ClientError
            if name not in errors and code not in errors:
                raise
    raise SystemExit(f"app retry ({prompt!r}): no attempt succeeded")


def _drain(stream) -> None:
    for _ in stream:
        pass


def _sdk_retry_client(client):
    """A second client of the same class with the SDK's own retry on (max_retries=1), built inside the scenario."""
    return type(client)(max_retries=1)


# OpenAI: `client` is an openai SDK client built with max_retries=0 (or a drop-in wrapper of one).

def _chat(client) -> None:
    client.chat.completions.create(model=GPT, messages=MESSAGES)


def _chat_stream(client) -> None:
    _drain(client.chat.completions.create(model=GPT, messages=MESSAGES, stream=True,
                                          stream_options={"include_usage": True}))


def _embeddings(client) -> None:
    client.embeddings.create(model=EMBEDDING, input="hello")


def _responses(client) -> None:
    # The Responses API: the stand-in reports input_tokens=200 incl. cached 50, output_tokens=40 incl. reasoning 10.
    client.responses.create(model=GPT, input=PROMPT)


def _responses_stream(client) -> None:
    _drain(client.responses.create(model=GPT, input=PROMPT, stream=True))


def _chat_app_retry(client, prompt: str) -> None:
    app_retry(lambda messages: client.chat.completions.create(model=GPT, messages=messages), prompt)


def _chat_sdk_retry(client) -> None:
    # The SDK's own retry (max_retries=1): the first HTTP attempt gets 429, the SDK retries inside the one call.
    _sdk_retry_client(client).chat.completions.create(
        model=GPT, messages=[{"role": "user", "content": "rate-limit-once sdk retry"}])


def _failed(call: Callable[[], object]) -> None:
    """A call the provider refuses for good (400): the app sees the error and goes on."""
    try:
        call()
    except Exception as error:  # the SDK's BadRequestError / ClientError / ValidationException
        print("failed:", type(error).__name__)
    else:
        raise SystemExit("the stand-in accepted a fail-always request")


def _chat_failed(client) -> None:
    _failed(lambda: client.chat.completions.create(
        model=GPT, messages=[{"role": "user", "content": "fail-always please"}]))


def _responses_reasoning(client) -> None:
    # A reasoning request: the stand-in adds a reasoning item (usage as _responses).
    client.responses.create(model=GPT, input=PROMPT, reasoning={"effort": "low", "summary": "auto"})


def _chat_tool_loop(client) -> None:
    """The app's own tool loop: the stand-in asks for get_capital twice, then answers: three calls."""
    tools = [{"type": "function", "function": {"name": "get_capital", "description": "The capital of a country.",
                                               "parameters": {"type": "object",
                                                              "properties": {"country": {"type": "string"}}}}}]
    messages: list[dict] = [{"role": "user", "content": f"call-tool-twice: {PROMPT}"}]
    for _ in range(5):
        message = client.chat.completions.create(model=GPT, messages=messages, tools=tools).choices[0].message
        if not message.tool_calls:
            return
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in message.tool_calls]})
        messages += [{"role": "tool", "tool_call_id": c.id, "content": "Paris"} for c in message.tool_calls]
    raise SystemExit("tool loop did not end")


#: The OpenAI scenarios, in the order they run. rate_limited_retry also takes the retry prompt.
OPENAI_SCENARIOS: dict[str, Callable] = {
    "chat": _chat, "chat_stream": _chat_stream, "embeddings": _embeddings, "responses": _responses,
    "responses_stream": _responses_stream, "rate_limited_retry": _chat_app_retry, "sdk_retry": _chat_sdk_retry,
    "failed": _chat_failed, "responses_reasoning": _responses_reasoning, "tool_loop": _chat_tool_loop,
}


# Anthropic: `client` is an anthropic SDK client built with max_retries=0.

def _messages(client) -> None:
    client.messages.create(model=CLAUDE, max_tokens=256, messages=MESSAGES)


def _messages_stream(client) -> None:
    # The SDK's stream helper.
    with client.messages.stream(model=CLAUDE, max_tokens=256, messages=MESSAGES) as stream:
        _drain(stream.text_stream)


def _messages_stream_raw(client) -> None:
    # stream=True: the raw event stream.
    _drain(client.messages.create(model=CLAUDE, max_tokens=256, messages=MESSAGES, stream=True))


def _messages_app_retry(client, prompt: str) -> None:
    app_retry(lambda messages: client.messages.create(model=CLAUDE, max_tokens=256, messages=messages), prompt)


def _messages_sdk_retry(client) -> None:
    # The SDK's own retry (max_retries=1): the first HTTP attempt gets 429, the SDK retries inside the one call.
    _sdk_retry_client(client).messages.create(
        model=CLAUDE, max_tokens=256, messages=[{"role": "user", "content": "rate-limit-once sdk retry"}])


def _messages_failed(client) -> None:
    _failed(lambda: client.messages.create(model=CLAUDE, max_tokens=256,
                                           messages=[{"role": "user", "content": "fail-always please"}]))


def _messages_thinking(client) -> None:
    # Extended thinking: the stand-in answers with a thinking block first. Anthropic counts the thinking inside
    # output_tokens and reports no separate count.
    client.messages.create(model=CLAUDE, max_tokens=2048, messages=MESSAGES,
                           thinking={"type": "enabled", "budget_tokens": 1024})


def _messages_tool_loop(client) -> None:
    """The app's own tool loop: the stand-in asks for get_capital twice, then answers: three calls."""
    tools = [{"name": "get_capital", "description": "The capital of a country.",
              "input_schema": {"type": "object", "properties": {"country": {"type": "string"}}}}]
    messages: list[dict] = [{"role": "user", "content": f"call-tool-twice: {PROMPT}"}]
    for _ in range(5):
        message = client.messages.create(model=CLAUDE, max_tokens=256, messages=messages, tools=tools)
        uses = [block for block in message.content if block.type == "tool_use"]
        if not uses:
            return
        messages.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": u.id, "name": u.name, "input": u.input} for u in uses]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": u.id, "content": "Paris"} for u in uses]})
    raise SystemExit("tool loop did not end")


#: The Anthropic scenarios, in the order they run. rate_limited_retry also takes the retry prompt.
ANTHROPIC_SCENARIOS: dict[str, Callable] = {
    "messages": _messages, "messages_stream": _messages_stream, "messages_stream_raw": _messages_stream_raw,
    "rate_limited_retry": _messages_app_retry, "sdk_retry": _messages_sdk_retry,
    "failed": _messages_failed, "thinking": _messages_thinking, "tool_loop": _messages_tool_loop,
}


def _run(table: Mapping[str, Callable], client, include: Iterable[str] | None, names: Mapping[str, str] | None,
         retry_prompt: str) -> None:
    include = list(table) if include is None else list(include)
    names = dict(names or {})
    unknown = (set(include) | set(names)) - set(table)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; known: {list(table)}")
    for key, run in table.items():
        if key in include:
            with scenario(names.get(key, key)):
                run(client, retry_prompt) if key == "rate_limited_retry" else run(client)


def openai_scenarios(client, include: Iterable[str] | None = None, *, names: Mapping[str, str] | None = None,
                     retry_prompt: str = "rate-limit-once please") -> None:
    """Run the OPENAI_SCENARIOS in `include` (default: all), each in its own scenario span named by `names`
    (scenario -> request.id) or after itself; rate_limited_retry sends `retry_prompt`."""
    _run(OPENAI_SCENARIOS, client, include, names, retry_prompt)


def anthropic_scenarios(client, include: Iterable[str] | None = None, *, names: Mapping[str, str] | None = None,
                        retry_prompt: str = "rate-limit-once please") -> None:
    """Run the ANTHROPIC_SCENARIOS in `include` (default: all), as openai_scenarios()."""
    _run(ANTHROPIC_SCENARIOS, client, include, names, retry_prompt)
