"""A local stand-in for the OpenAI and Anthropic HTTP APIs that answers with known token usage.

Real instrumentation libraries run against it (scripts/capture/capture.py), so the spans they emit can be
checked against exact numbers. Usage is fixed per endpoint (USAGE below). A request whose body contains
"rate-limit-once" is refused once with 429 (and a zero retry delay), then served: the SDKs' retry paths.
A non-streaming request whose body contains "call-tool-once" and offers tools, but holds no tool result yet,
is answered with a call of its first tool (same usage): agent/tool loops make two model requests.

Run alone: python scripts/capture/fake_provider.py --port 8999
"""

from __future__ import annotations

import argparse
import json
import time

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


def _sse(events: list[tuple[str | None, dict | str]]) -> bytes:
    lines = []
    for event, data in events:
        if event:
            lines.append(f"event: {event}")
        lines.append(f"data: {data if isinstance(data, str) else json.dumps(data)}")
        lines.append("")
    return ("\n".join(lines) + "\n").encode()


def _tool_call(body: dict) -> tuple[str, dict] | None:
    """(name, arguments) of the first offered tool, for a "call-tool-once" request that holds no tool result yet."""
    def has_result(node) -> bool:
        if isinstance(node, dict):
            return (node.get("role") == "tool" or node.get("type") in ("function_call_output", "tool_result")
                    or any(has_result(v) for v in node.values()))
        return isinstance(node, list) and any(has_result(v) for v in node)

    tools = body.get("tools") or []
    if not tools or body.get("stream") or "call-tool-once" not in json.dumps(body) \
            or has_result({k: v for k, v in body.items() if k != "tools"}):
        return None
    tool = tools[0].get("function", tools[0])
    schema = tool.get("parameters") or tool.get("input_schema") or {}
    sample = {"integer": 1, "number": 1, "boolean": True}
    return tool["name"], {k: sample.get(v.get("type"), "Paris") for k, v in (schema.get("properties") or {}).items()}


class FakeProvider:
    def __init__(self):
        self._refused: set[str] = set()
        self._responses = 0
        self.requests: list[tuple[str, dict]] = []

    def _next_id(self, prefix: str) -> str:
        """Every response gets its own id, as real APIs do: equal ids mean one call to a cost tool."""
        self._responses += 1
        return f"{prefix}-{self._responses}"

    def app(self) -> web.Application:
        app = web.Application()
        for prefix in ("", "/v1"):
            app.router.add_post(f"{prefix}/chat/completions", self.chat)
            app.router.add_post(f"{prefix}/embeddings", self.embeddings)
            app.router.add_post(f"{prefix}/responses", self.responses)
            app.router.add_post(f"{prefix}/messages", self.messages)
        return app

    async def _read(self, request: web.Request) -> tuple[dict, web.Response | None]:
        raw = await request.text()
        body = json.loads(raw or "{}")
        self.requests.append((request.path, body))
        if "rate-limit-once" in raw and raw not in self._refused:
            self._refused.add(raw)
            error = {"error": {"type": "rate_limit_error", "message": "Rate limited (stand-in)"}}
            headers = {"retry-after": "0", "retry-after-ms": "10", "x-should-retry": "true"}
            return body, web.json_response(error, status=429, headers=headers)
        return body, None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._read(request)
        if refused:
            return refused
        model, created = body.get("model", "gpt-4o-mini"), int(time.time())
        base = {"id": self._next_id("chatcmpl-standin"), "created": created, "model": f"{model}-2024-07-18",
                "system_fingerprint": "fp_1"}
        if not body.get("stream"):
            message, finish = {"role": "assistant", "content": TEXT}, "stop"
            if tool := _tool_call(body):
                message, finish = {"role": "assistant", "content": None, "tool_calls": [{
                    "id": "call_standin", "type": "function",
                    "function": {"name": tool[0], "arguments": json.dumps(tool[1])}}]}, "tool_calls"
            return web.json_response({**base, "object": "chat.completion", "usage": USAGE["chat"],
                                      "choices": [{"index": 0, "message": message, "finish_reason": finish}]})
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [(None, {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": word + " "},
                                                "finish_reason": None}]}) for word in TEXT.split()]
        events.append((None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        events.append((None, {**chunk, "choices": [], "usage": USAGE["chat_stream"]}))
        events.append((None, "[DONE]"))
        return web.Response(body=_sse(events), content_type="text/event-stream")

    async def embeddings(self, request: web.Request) -> web.Response:
        body, refused = await self._read(request)
        if refused:
            return refused
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(count)]
        return web.json_response(
            {"object": "list", "data": data, "model": body.get("model"), "usage": USAGE["embeddings"]})

    async def responses(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._read(request)
        if refused:
            return refused
        response = {
            "id": self._next_id("resp_standin"), "object": "response", "created_at": int(time.time()),
            "status": "completed",
            "model": body.get("model", "gpt-4o-mini"), "usage": USAGE["responses"], "error": None,
            "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": TEXT, "annotations": []}]}],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "incomplete_details": None,
        }
        if tool := _tool_call(body):
            response["output"] = [{"type": "function_call", "id": "fc_1", "call_id": "call_standin",
                                   "status": "completed", "name": tool[0], "arguments": json.dumps(tool[1])}]
        if not body.get("stream"):
            return web.json_response(response)
        in_progress = {**response, "status": "in_progress", "output": [], "usage": None}
        events = [
            ("response.created", {"type": "response.created", "response": in_progress, "sequence_number": 0}),
            ("response.output_text.delta", {"type": "response.output_text.delta", "item_id": "msg_1",
                                            "output_index": 0, "content_index": 0, "delta": TEXT,
                                            "sequence_number": 1}),
            ("response.completed", {"type": "response.completed", "response": response, "sequence_number": 2}),
        ]
        return web.Response(body=_sse(events), content_type="text/event-stream")

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._read(request)
        if refused:
            return refused
        model = body.get("model", "claude-sonnet-4-5")
        message = {"id": self._next_id("msg_standin"), "type": "message", "role": "assistant", "model": model,
                   "content": [{"type": "text", "text": TEXT}], "stop_reason": "end_turn", "stop_sequence": None,
                   "usage": USAGE["messages"]}
        if tool := _tool_call(body):
            message = {**message,
                       "content": [{"type": "tool_use", "id": "toolu_standin", "name": tool[0], "input": tool[1]}],
                       "stop_reason": "tool_use"}
        if not body.get("stream"):
            return web.json_response(message)
        usage = USAGE["messages"]
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        events = [
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
        return web.Response(body=_sse(events), content_type="text/event-stream")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8999)
    web.run_app(FakeProvider().app(), host="127.0.0.1", port=parser.parse_args().port)
