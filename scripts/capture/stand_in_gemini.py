"""The stand-in's Gemini API: models/{model}:generateContent, :streamGenerateContent (?alt=sse) and :embedContent.

Gemini counts as its API does: promptTokenCount includes cachedContentTokenCount; candidatesTokenCount
excludes thoughtsTokenCount, and totalTokenCount is prompt + candidates + thoughts. A request with a
thinkingConfig that asks for includeThoughts gets a thought part first. A request with the googleSearch tool
is grounded: its candidate has groundingMetadata with SERVER_TOOL_RUNS webSearchQueries. A 429 is
RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

from aiohttp import web
from fake_provider import SERVER_TOOL_RUNS, TEXT, FakeProvider, sse, tool_call

#: usageMetadata by endpoint: (prompt incl. cached, cached, candidates, thoughts).
USAGE = {
    "generate": {"promptTokenCount": 120, "cachedContentTokenCount": 20, "candidatesTokenCount": 30,
                 "thoughtsTokenCount": 10, "totalTokenCount": 160,
                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 120}],
                 "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 20}]},
    "stream": {"promptTokenCount": 80, "candidatesTokenCount": 12, "thoughtsTokenCount": 4, "totalTokenCount": 96,
               "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 80}]},
}
ERRORS = {
    "rate": (429, {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota). (stand-in)",
                             "status": "RESOURCE_EXHAUSTED"}}),
    "fail": (400, {"error": {"code": 400, "message": "Invalid request (stand-in)", "status": "INVALID_ARGUMENT"}}),
}


def add_gemini_routes(app: web.Application, provider: FakeProvider) -> None:
    async def call(request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["call"].partition(":")
        body, refused = await provider.read(request, _error)
        if refused:
            return refused
        if method == "embedContent":
            return web.json_response({"embedding": {"values": [0.1, 0.2, 0.3]}})
        if method == "batchEmbedContents":
            return web.json_response({"embeddings": [{"values": [0.1, 0.2, 0.3]} for _ in body.get("requests", [])]})
        if method == "countTokens":
            return web.json_response({"totalTokens": 7})
        response_id = provider.next_id("gemini-standin")
        thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        parts = [{"text": "The user asks for a capital.", "thought": True}] if thinking.get("includeThoughts") else []
        declarations = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
        if tool := tool_call(body, declarations):
            parts.append({"functionCall": {"name": tool[0], "args": tool[1]}})
        else:
            parts.append({"text": TEXT})
        base = {"modelVersion": model, "responseId": response_id}
        grounded = any("googleSearch" in t or "google_search" in t for t in body.get("tools") or [])
        grounding = {"groundingMetadata": {
            "webSearchQueries": [f"capital of France {run}" for run in range(SERVER_TOOL_RUNS)],
            "groundingChunks": [{"web": {"uri": "https://example.org/paris", "title": "Paris"}}]}} if grounded else {}
        if method == "generateContent":
            return web.json_response({**base, "usageMetadata": USAGE["generate"], "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0, **grounding}]})
        # Streams: each chunk carries the prompt count; the last one the whole usage and the finish reason.
        prompt = {k: USAGE["stream"][k] for k in ("promptTokenCount", "promptTokensDetails")}
        chunks = [(None, {**base, "usageMetadata": {**prompt, "totalTokenCount": prompt["promptTokenCount"]},
                          "candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}]})
                  for part in parts]
        chunks.append((None, {**base, "usageMetadata": USAGE["stream"], "candidates": [
            {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}]}))
        return web.Response(body=sse(chunks, separator="\r\n"), content_type="text/event-stream")

    for version in ("v1beta", "v1", "v1alpha"):
        app.router.add_post(f"/{version}/models/{{call}}", call)
        # Vertex AI's form of the same API.
        app.router.add_post(f"/{version}/projects/{{project}}/locations/{{location}}/publishers/google/models/{{call}}",
                            call)


def _error(kind: str) -> web.Response:
    status, body = ERRORS[kind]
    return web.json_response(body, status=status)
