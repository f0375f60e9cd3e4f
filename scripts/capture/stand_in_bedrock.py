"""The stand-in's Amazon Bedrock runtime: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream.

Bedrock counts as its API does: Converse's inputTokens EXCLUDES the cache (cacheReadInputTokens and
cacheWriteInputTokens are beside it) and totalTokens sums all four. InvokeModel answers a Claude model
with the Anthropic Messages body (raw Anthropic counts, also exclusive) and the token-count headers.
Streams use AWS's binary event-stream framing. A 429 is a ThrottlingException.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib

from aiohttp import web
from fake_provider import TEXT, FakeProvider, anthropic_events, tool_call
from fake_provider import USAGE as PROVIDER_USAGE

USAGE = {"inputTokens": 100, "cacheReadInputTokens": 300, "cacheWriteInputTokens": 50, "outputTokens": 25,
         "totalTokens": 475}
ERRORS = {
    "rate": (429, "ThrottlingException", "Too many requests, please wait before trying again. (stand-in)"),
    "fail": (400, "ValidationException", "Invalid request (stand-in)"),
}


def _error(kind: str) -> web.Response:
    status, name, message = ERRORS[kind]
    error_type = f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": error_type})


def event_stream(events: list[tuple[str, dict]]) -> bytes:
    """AWS event-stream messages: prelude (lengths + CRC), string headers, JSON payload, message CRC."""
    out = bytearray()
    for event_type, payload in events:
        headers = b""
        for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                            (":message-type", "event")):
            headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
        body = json.dumps(payload).encode()
        total = 12 + len(headers) + len(body) + 4
        prelude = struct.pack(">II", total, len(headers))
        message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
        out += message + struct.pack(">I", zlib.crc32(message))
    return bytes(out)


def add_bedrock_routes(app: web.Application, provider: FakeProvider) -> None:
    def converse_content(body: dict) -> tuple[list[dict], str]:
        specs = [t["toolSpec"] for t in (body.get("toolConfig") or {}).get("tools") or [] if "toolSpec" in t]
        if tool := tool_call(body, specs):
            return [{"toolUse": {"toolUseId": f"tooluse_standin_{provider.next_id('t')}", "name": tool[0],
                                 "input": tool[1]}}], "tool_use"
        return [{"text": TEXT}], "end_turn"

    async def converse(request: web.Request) -> web.Response:
        body, refused = await provider.read(request, _error)
        if refused:
            return refused
        content, stop = converse_content(body)
        return web.json_response({"output": {"message": {"role": "assistant", "content": content}},
                                  "stopReason": stop, "usage": USAGE, "metrics": {"latencyMs": 120}},
                                 headers={"x-amzn-RequestId": provider.next_id("bedrock-standin")})

    async def converse_stream(request: web.Request) -> web.Response:
        body, refused = await provider.read(request, _error)
        if refused:
            return refused
        content, stop = converse_content(body)
        events: list[tuple[str, dict]] = [("messageStart", {"role": "assistant"})]
        for index, block in enumerate(content):
            if "toolUse" in block:
                use = block["toolUse"]
                events.append(("contentBlockStart", {"contentBlockIndex": index, "start": {
                    "toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}}))
                events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": {
                    "toolUse": {"input": json.dumps(use["input"])}}}))
            else:
                events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": block["text"]}}))
            events.append(("contentBlockStop", {"contentBlockIndex": index}))
        events.append(("messageStop", {"stopReason": stop}))
        events.append(("metadata", {"usage": USAGE, "metrics": {"latencyMs": 120}}))
        return web.Response(body=event_stream(events), content_type="application/vnd.amazon.eventstream",
                            headers={"x-amzn-RequestId": provider.next_id("bedrock-standin")})

    def invoke_headers() -> dict[str, str]:
        usage = PROVIDER_USAGE["messages"]
        return {"X-Amzn-Bedrock-Input-Token-Count": str(usage["input_tokens"]),
                "X-Amzn-Bedrock-Output-Token-Count": str(usage["output_tokens"]),
                "X-Amzn-Bedrock-Cache-Read-Input-Token-Count": str(usage["cache_read_input_tokens"]),
                "X-Amzn-Bedrock-Cache-Write-Input-Token-Count": str(usage["cache_creation_input_tokens"]),
                "x-amzn-RequestId": provider.next_id("bedrock-standin")}

    async def invoke(request: web.Request) -> web.Response:
        body, refused = await provider.read(request, _error)
        if refused:
            return refused
        message = provider.anthropic_message({**body, "model": request.match_info["model"]})
        return web.json_response(message, headers=invoke_headers())

    async def invoke_stream(request: web.Request) -> web.Response:
        body, refused = await provider.read(request, _error)
        if refused:
            return refused
        message = provider.anthropic_message({**body, "model": request.match_info["model"]})
        chunks = [("chunk", {"bytes": base64.b64encode(json.dumps(data).encode()).decode()})
                  for _, data in anthropic_events(message)]
        return web.Response(body=event_stream(chunks), content_type="application/vnd.amazon.eventstream",
                            headers=invoke_headers())

    app.router.add_post("/model/{model}/converse", converse)
    app.router.add_post("/model/{model}/converse-stream", converse_stream)
    app.router.add_post("/model/{model}/invoke", invoke)
    app.router.add_post("/model/{model}/invoke-with-response-stream", invoke_stream)
