"""Units billed beside tokens, read from a provider's own response or usage document.

Instrumentations that keep the provider's response (or its usage and metadata) as JSON carry the counts of
server-side tools and non-token units in the provider's own shape:
- Anthropic usage: `server_tool_use.web_search_requests`;
- Gemini: `groundingMetadata.webSearchQueries` (the searches grounding ran);
- OpenAI Responses: `output` items of type `web_search_call`, `file_search_call`, `image_generation_call`;
- OpenAI audio transcription: `usage` of type `duration` with its `seconds`.
`unit_counts` finds them wherever they sit in the document and returns them under the attribute names the
kinds table gives their counts (kinds.py), which every dialect reads.

Some instrumentations keep no count of these at all, only the whole response as a JSON attribute (DOCUMENTS:
OpenInference's `output.value`, Logfire's `response`). Those are read once, at decode (decode/otlp.py's
AttributeFilter.documents), by `document_units`: the span then carries the counts, not the document.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson

from otel_llmcost.kinds import COUNTED

_ATTRIBUTE = {kind.count: kind.attributes[0] for kind in COUNTED if kind.attributes}
_OUTPUT_ITEMS = {"web_search_call": "web_searches", "file_search_call": "file_searches",
                 "image_generation_call": "images"}
_MAX_DEPTH = 6  # provider documents nest their usage 1-3 levels deep; never walk a huge document far
_MAX_NODES = 2_000
#: Attributes holding a provider's whole response (or a framework's output wrapping it) as JSON.
DOCUMENTS = frozenset({"output.value", "response"})
#: A document that names none of these reports no unit: it is not parsed.
_MARKERS = ("server_tool_use", "webSearchQueries", "web_search_queries", "web_search_call", "file_search_call",
            "image_generation_call", "duration")
_MAX_DOCUMENT = 2 * 1024 * 1024  # larger responses are not parsed for units


def document_units(document: Any) -> dict[str, int]:
    """unit_counts of a document attribute: a JSON text (parsed only when it may hold a count) or a mapping."""
    if isinstance(document, str):
        if len(document) > _MAX_DOCUMENT or not any(marker in document for marker in _MARKERS):
            return {}
        try:
            document = orjson.loads(document)
        except orjson.JSONDecodeError:
            return {}  # not JSON (OpenInference's text/plain output, a truncated document): nothing to read
    return unit_counts(document) if isinstance(document, (Mapping, list)) else {}


def unit_counts(document: object) -> dict[str, int]:
    """Attribute name -> count of each unit kind the document reports (none: {})."""
    counts: dict[str, int] = {}
    budget = [_MAX_NODES]
    _walk(document, counts, 0, budget)
    return {_ATTRIBUTE[name]: count for name, count in counts.items() if count > 0}


def _walk(node: object, counts: dict[str, int], depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if depth > _MAX_DEPTH or budget[0] < 0:
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, counts, depth + 1, budget)
        return
    if not isinstance(node, dict):
        return
    tools = node.get("server_tool_use")
    if isinstance(tools, dict):
        _add(counts, "web_searches", tools.get("web_search_requests"))
    grounding = node.get("groundingMetadata", node.get("grounding_metadata"))
    if isinstance(grounding, dict):
        queries = grounding.get("webSearchQueries", grounding.get("web_search_queries"))
        _add(counts, "web_searches", len(queries) if isinstance(queries, list) else None)
    if isinstance(node.get("output"), list):
        for item in node["output"]:
            if isinstance(item, dict) and item.get("type") in _OUTPUT_ITEMS:
                _add(counts, _OUTPUT_ITEMS[item["type"]], 1)
    if node.get("type") == "duration" and isinstance(node.get("seconds"), (int, float)):
        seconds = node["seconds"]  # billed by the second, rounded up
        _add(counts, "audio_seconds", math.ceil(seconds) if math.isfinite(seconds) else None)
        return
    for key, value in node.items():
        if key not in ("server_tool_use", "output") and isinstance(value, (dict, list)):
            _walk(value, counts, depth + 1, budget)


def _add(counts: dict[str, int], name: str, value: object) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        counts[name] = counts.get(name, 0) + value
