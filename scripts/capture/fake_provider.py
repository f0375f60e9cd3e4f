"""A local stand-in for the LLM provider HTTP APIs that answers with known token usage.

Real instrumentation libraries run against it (scripts/capture/capture.py), so the spans they emit can be
checked against exact numbers. It speaks OpenAI chat completions, embeddings, the Responses API (also as
Azure OpenAI deployments), image generation and audio transcription (AUDIO_SECONDS of audio), Anthropic
messages (here), Gemini generateContent (stand_in_gemini.py) and Bedrock Converse / InvokeModel
(stand_in_bedrock.py). Usage is fixed per endpoint (USAGE below and in those
modules). Behaviour is keyed off the request content:

* "rate-limit-once": refused once with 429 in the API's own error format (and a zero retry delay), then
  served: the SDKs' and apps' retry paths.
* "fail-always": always refused with 400 (invalid request): a call that fails for good.
* "call-tool-once" / "call-tool-twice": a request that offers tools and holds fewer tool results than
  asked for is answered with a call of its first tool (same usage): a tool loop makes two / three calls.
* Responses API: a request with `reasoning` gets a reasoning item before its message; Anthropic: a request
  with `thinking` gets a thinking block before its answer.
* Server-side tools (SERVER_TOOL_RUNS searches per call): a Responses request offering `web_search` /
  `file_search` tools gets that many `web_search_call` / `file_search_call` items before its message; an
  Anthropic request offering a `web_search_*` tool gets its server_tool_use and result blocks and
  `usage.server_tool_use.web_search_requests`; a Gemini request with the `googleSearch` tool gets
  `groundingMetadata.webSearchQueries`.

Run alone: python scripts/capture/fake_provider.py --port 8999
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable

from aiohttp import web

#: The usage every response reports, by endpoint. Anthropic's input_tokens excludes the cache (raw API).
USAGE = {
    "chat": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
             "prompt_tokens_details": {"cached_tokens": 20}, "completion_tokens_details": {"reasoning_tokens": 0}},
    "chat_stream": {"prompt_tokens": 80, "completion_tokens": 12, "total_tokens": 92,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0}},
    "embeddings": {"prompt_tokens": 16, "total_tokens": 16},
    "responses": {"input_tokens": 200, "input_tokens_details": {"cached_tokens": 50}, "output_tokens": 40,
                  "output_tokens_details": {"reasoning_tokens": 10}, "total_tokens": 240},
    "messages": {"input_tokens": 100, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 50,
                 "output_tokens": 25},
}
TEXT = "Paris is the capital of France."
#: How many searches a server-side tool runs for one call.
SERVER_TOOL_RUNS = 2
#: The length of the audio every transcription is of (billed by the whole second: 95).
AUDIO_SECONDS = 94.2
#: Azure OpenAI deployments (named by the user, not by the model) and the model each one serves.
AZURE_DEPLOYMENTS = {"prod-chat": "gpt-4o-mini", "prod-embed": "text-embedding-3-small"}
#: The dated snapshot providers answer with for an alias.
SNAPSHOT = "-2024-07-18"

#: The error bodies per API family, for "rate" (429) and "fail" (400); stand_in_* modules add theirs.
OPENAI_ERRORS = {
    "rate": {"error": {"type": "rate_limit_error", "message": "Rate limited (stand-in)",
                       "code": "rate_limit_exceeded"}},
    "fail": {"error": {"type": "invalid_request_error", "message": "Invalid request (stand-in)",
                       "code": "invalid_value"}},
}
ANTHROPIC_ERRORS = {
    "rate": {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited (stand-in)"}},
    "fail": {"type": "error", "error": {"type": "invalid_request_error", "message": "Invalid request (stand-in)"}},
}
RETRY_HEADERS = {"retry-after": "0", "retry-after-ms": "10", "x-should-retry": "true"}


def sse(events: list[tuple[str | None, dict | str]], separator: str = "\n") -> bytes:
    lines = []
    for event, data in events:
        if event:
            lines.append(f"event: {event}")
        lines.append(f"data: {data if isinstance(data, str) else json.dumps(data)}")
        lines.append("")
    return (separator.join(lines) + separator).encode()


_RESULT_TYPES = ("function_call_output", "tool_result")
_RESULT_KEYS = ("functionResponse", "toolResult", "function_response")


def count_results(node) -> int:
    """Tool results a request holds, in any of the APIs' shapes."""
    if isinstance(node, dict):
        own = node.get("role") == "tool" or node.get("type") in _RESULT_TYPES or any(k in node for k in _RESULT_KEYS)
        return int(own) + sum(count_results(v) for v in node.values())
    return sum(count_results(v) for v in node) if isinstance(node, list) else 0


def tool_call(body: dict, tools: list[dict]) -> tuple[str, dict] | None:
    """(name, arguments) of the first of `tools` (each with a name and a JSON schema under `parameters`,
    `parametersJsonSchema`, `input_schema` or `inputSchema.json`), when the request asks for a tool loop
    and has not got all its tool results yet."""
    raw = json.dumps(body)
    wanted = 2 if "call-tool-twice" in raw else 1 if "call-tool-once" in raw else 0
    if not tools or count_results({k: v for k, v in body.items() if k not in ("tools", "toolConfig")}) >= wanted:
        return None
    tool = tools[0]
    schema = (tool.get("parameters") or tool.get("parametersJsonSchema") or tool.get("input_schema")
              or (tool.get("inputSchema") or {}).get("json") or {})
    sample = {"integer": 1, "number": 1, "boolean": True}
    properties = schema.get("properties") or {}
    return tool["name"], {k: sample.get(str(v.get("type", "")).lower(), "Paris") for k, v in properties.items()}


class FakeProvider:
    def __init__(self):
        self._refused: set[str] = set()
        self._responses = 0
        self.requests: list[tuple[str, dict]] = []

    def next_id(self, prefix: str) -> str:
        """Every response gets its own id, as real APIs do: equal ids mean one call to a cost tool."""
        self._responses += 1
        return f"{prefix}-{self._responses}"

    def app(self) -> web.Application:
        from stand_in_bedrock import add_bedrock_routes
        from stand_in_gemini import add_gemini_routes

        app = web.Application()
        # /openai and /openai/v1: Azure OpenAI's Responses URL and its v1 API, the deployment named as the model.
        for prefix in ("", "/v1", "/openai", "/openai/v1"):
            app.router.add_post(f"{prefix}/chat/completions", self.chat)
            app.router.add_post(f"{prefix}/embeddings", self.embeddings)
            app.router.add_post(f"{prefix}/responses", self.responses)
            app.router.add_post(f"{prefix}/messages", self.messages)
            app.router.add_post(f"{prefix}/images/generations", self.images)
            app.router.add_post(f"{prefix}/audio/transcriptions", self.transcriptions)
        # Azure OpenAI's deployment URLs: the deployment is in the path, the body may not name a model.
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self.chat)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self.embeddings)
        app.router.add_post("/openai/deployments/{deployment}/responses", self.responses)
        add_gemini_routes(app, self)
        add_bedrock_routes(app, self)
        return app

    async def read(self, request: web.Request,
                   errors: Callable[[str], web.Response]) -> tuple[dict, web.Response | None]:
        """The request body, and the refusal to send instead of an answer (`errors(kind)` builds it), if any."""
        raw = await request.text()
        body = json.loads(raw or "{}")
        self.requests.append((request.path, body))
        if "fail-always" in raw:
            return body, errors("fail")
        if "rate-limit-once" in raw and raw not in self._refused:
            self._refused.add(raw)
            return body, errors("rate")
        return body, None

    @staticmethod
    def _openai_error(kind: str) -> web.Response:
        return web.json_response(OPENAI_ERRORS[kind], status=429 if kind == "rate" else 400,
                                 headers=RETRY_HEADERS if kind == "rate" else None)

    @staticmethod
    def _model(request: web.Request, body: dict, default: str) -> str:
        """The model served: an Azure deployment (in the path or as the model) is the model behind it."""
        name = request.match_info.get("deployment") or body.get("model") or default
        return AZURE_DEPLOYMENTS.get(name, name)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self.read(request, self._openai_error)
        if refused:
            return refused
        model, created = self._model(request, body, "gpt-4o-mini"), int(time.time())
        base = {"id": self.next_id("chatcmpl-standin"), "created": created, "model": f"{model}{SNAPSHOT}",
                "system_fingerprint": "fp_1"}
        if not body.get("stream"):
            message, finish = {"role": "assistant", "content": TEXT}, "stop"
            if tool := tool_call(body, [t.get("function", t) for t in body.get("tools") or []]):
                message, finish = {"role": "assistant", "content": None, "tool_calls": [{
                    "id": f"call_standin_{self._responses}", "type": "function",
                    "function": {"name": tool[0], "arguments": json.dumps(tool[1])}}]}, "tool_calls"
            return web.json_response({**base, "object": "chat.completion", "usage": USAGE["chat"],
                                      "choices": [{"index": 0, "message": message, "finish_reason": finish}]})
        chunk = {**base, "object": "chat.completion.chunk"}
        if tool := tool_call(body, [t.get("function", t) for t in body.get("tools") or []]):
            call = {"index": 0, "id": f"call_standin_{self._responses}", "type": "function",
                    "function": {"name": tool[0], "arguments": json.dumps(tool[1])}}
            deltas, finish = [{"role": "assistant", "content": None, "tool_calls": [call]}], "tool_calls"
        else:
            deltas, finish = [{"role": "assistant", "content": word + " "} for word in TEXT.split()], "stop"
        events = [(None, {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                  for delta in deltas]
        events.append((None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
        events.append((None, {**chunk, "choices": [], "usage": USAGE["chat_stream"]}))
        events.append((None, "[DONE]"))
        return web.Response(body=sse(events), content_type="text/event-stream")

    async def embeddings(self, request: web.Request) -> web.Response:
        body, refused = await self.read(request, self._openai_error)
        if refused:
            return refused
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(count)]
        return web.json_response({"object": "list", "data": data, "model": self._model(request, body, ""),
                                  "usage": USAGE["embeddings"]})

    async def responses(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self.read(request, self._openai_error)
        if refused:
            return refused
        model = self._model(request, body, "gpt-4o-mini")
        output: list[dict] = []
        if body.get("reasoning"):
            output.append({"type": "reasoning", "id": "rs_1", "summary": [
                {"type": "summary_text", "text": "The user asks for a capital."}]})
        offered = {t.get("type", "") for t in body.get("tools") or []}
        for kind in ("web_search", "file_search"):
            if any(name.startswith(kind) for name in offered):
                output.extend(_server_tool_item(kind, f"{kind[:2]}_{run}") for run in range(SERVER_TOOL_RUNS))
        if tool := tool_call(body, [t for t in body.get("tools") or [] if t.get("type") == "function"]):
            output.append({"type": "function_call", "id": "fc_1", "call_id": f"call_standin_{self._responses}",
                           "status": "completed", "name": tool[0], "arguments": json.dumps(tool[1])})
        else:
            output.append({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                           "content": [{"type": "output_text", "text": TEXT, "annotations": []}]})
        response = {
            "id": self.next_id("resp_standin"), "object": "response", "created_at": int(time.time()),
            "status": "completed", "model": f"{model}{SNAPSHOT}", "usage": USAGE["responses"], "error": None,
            "output": output, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "incomplete_details": None, "reasoning": body.get("reasoning"),
        }
        if not body.get("stream"):
            return web.json_response(response)
        return web.Response(body=sse(_responses_events(response)), content_type="text/event-stream")

    async def images(self, request: web.Request) -> web.Response:
        """Image generation (DALL-E: no usage; priced by the image): `n` images."""
        body, refused = await self.read(request, self._openai_error)
        if refused:
            return refused
        images = [{"url": f"https://example.org/image-{index}.png", "revised_prompt": TEXT}
                  for index in range(int(body.get("n") or 1))]
        return web.json_response({"created": int(time.time()), "data": images})

    async def transcriptions(self, request: web.Request) -> web.Response:
        """Audio transcription (a multipart form): its text, and the audio's length as OpenAI reports it (usage of
        type duration; verbose_json also has `duration`)."""
        form = await request.post()
        fields = {key: str(value) for key, value in form.items() if key != "file"}
        self.requests.append((request.path, fields))
        if "fail-always" in fields.get("prompt", ""):
            return self._openai_error("fail")
        usage = {"type": "duration", "seconds": math.ceil(AUDIO_SECONDS)}
        if fields.get("response_format") == "verbose_json":
            return web.json_response({"task": "transcribe", "language": "english", "duration": AUDIO_SECONDS,
                                      "text": TEXT, "segments": [], "usage": usage})
        return web.json_response({"text": TEXT, "usage": usage})

    @staticmethod
    def _anthropic_error(kind: str) -> web.Response:
        return web.json_response(ANTHROPIC_ERRORS[kind], status=429 if kind == "rate" else 400,
                                 headers=RETRY_HEADERS if kind == "rate" else None)

    def anthropic_message(self, body: dict) -> dict:
        """An Anthropic Messages answer to `body` (also what Bedrock's InvokeModel returns for Claude)."""
        message = {"id": self.next_id("msg_standin"), "type": "message", "role": "assistant",
                   "model": body.get("model", "claude-sonnet-4-5"), "content": [{"type": "text", "text": TEXT}],
                   "stop_reason": "end_turn", "stop_sequence": None, "usage": USAGE["messages"]}
        if any(str(t.get("type", "")).startswith("web_search") for t in body.get("tools") or []):
            searches = [block for run in range(SERVER_TOOL_RUNS) for block in (
                {"type": "server_tool_use", "id": f"srvtoolu_{run}", "name": "web_search",
                 "input": {"query": f"capital of France {run}"}},
                {"type": "web_search_tool_result", "tool_use_id": f"srvtoolu_{run}", "content": [
                    {"type": "web_search_result", "url": "https://example.org/paris", "title": "Paris",
                     "encrypted_content": "stand-in", "page_age": None}]})]
            message = {**message, "content": [*searches, *message["content"]],
                       "usage": {**message["usage"], "server_tool_use": {"web_search_requests": SERVER_TOOL_RUNS}}}
        if body.get("thinking"):  # extended thinking: a thinking block before the answer (usage unchanged)
            message["content"] = [{"type": "thinking", "thinking": "The user asks for a capital.",
                                   "signature": "stand-in-signature"}, *message["content"]]
        if tool := tool_call(body, [t for t in body.get("tools") or [] if "input_schema" in t]):
            message = {**message,
                       "content": [{"type": "tool_use", "id": f"toolu_standin_{self._responses}", "name": tool[0],
                                    "input": tool[1]}],
                       "stop_reason": "tool_use"}
        return message

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self.read(request, self._anthropic_error)
        if refused:
            return refused
        message = self.anthropic_message(body)
        if not body.get("stream"):
            return web.json_response(message)
        return web.Response(body=sse(anthropic_events(message)), content_type="text/event-stream")


def _server_tool_item(kind: str, item_id: str) -> dict:
    """A Responses output item of a search the provider ran itself."""
    if kind == "web_search":
        return {"type": "web_search_call", "id": item_id, "status": "completed",
                "action": {"type": "search", "query": "capital of France"}}
    return {"type": "file_search_call", "id": item_id, "status": "completed", "queries": ["capital of France"],
            "results": None}


def anthropic_events(message: dict) -> list[tuple[str, dict]]:
    """The Messages stream of `message` (a text answer): usage in message_start, the final output in message_delta."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    return [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": TEXT}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": usage["output_tokens"]}}),
        ("message_stop", {"type": "message_stop"}),
    ]


def _responses_events(response: dict) -> list[tuple[str, dict]]:
    """The Responses API stream of `response`: every output item added, its text or arguments, done."""
    in_progress = {**response, "status": "in_progress", "output": [], "usage": None}
    events: list[tuple[str, dict]] = [
        ("response.created", {"type": "response.created", "response": in_progress}),
        ("response.in_progress", {"type": "response.in_progress", "response": in_progress})]

    def add(kind: str, **fields) -> None:
        events.append((kind, {"type": kind, **fields}))

    for index, item in enumerate(response["output"]):
        add("response.output_item.added", output_index=index,
            item={**item, "status": "in_progress", **({"content": []} if item["type"] == "message" else {})})
        if item["type"] == "message":
            part = item["content"][0]
            add("response.content_part.added", item_id=item["id"], output_index=index, content_index=0,
                part={**part, "text": ""})
            add("response.output_text.delta", item_id=item["id"], output_index=index, content_index=0,
                delta=part["text"], logprobs=[])
            add("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                text=part["text"], logprobs=[])
            add("response.content_part.done", item_id=item["id"], output_index=index, content_index=0, part=part)
        elif item["type"] == "function_call":
            add("response.function_call_arguments.delta", item_id=item["id"], output_index=index,
                delta=item["arguments"])
            add("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                arguments=item["arguments"])
        add("response.output_item.done", output_index=index, item=item)
    add("response.completed", response=response)
    for number, (_, data) in enumerate(events):
        data["sequence_number"] = number
    return events


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8999)
    web.run_app(FakeProvider().app(), host="127.0.0.1", port=parser.parse_args().port)
