"""LiteLLM's OpenTelemetry callback, SDK and proxy, in its three shapes.

Source: https://github.com/BerriAI/litellm/blob/main/litellm/integrations/opentelemetry.py
* A `litellm_request` span (the proxy, or the SDK given a parent span); the proxy's `Received Proxy Server
  Request` and helper spans (`raw_gen_ai_request`, `auth`, `router`...) are never billed.
* With `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`: `chat <model>` / `embeddings <model>`
  spans of scope `litellm`.
* By default in the SDK: the same attributes stamped onto the app's active span (`litellm.call_id` marks it).
LiteLLM normalises usage to OpenAI's shape (prompt tokens include the cache). Cache counts are attributes
only in the opt-in mode for Anthropic; otherwise they are in `metadata.usage_object`, a Python repr of the
usage, which is parsed as a literal. Units billed beside tokens are read from it as from any provider document
(semconv/server_tools.py: `server_tool_use.web_search_requests`, a transcription's `{'type': 'duration',
'seconds': ...}`), and an image generation's images from its `output_image_count`. `gen_ai.system` is empty for
embeddings, image generation and transcription: the provider then comes from the `litellm.provider.model`
prefix. LiteLLM's price estimate is gen_ai.cost.total_cost.
"""

from __future__ import annotations

import ast
from dataclasses import replace

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv import genai
from otel_llmcost.semconv.fields import INCLUSIVE, UNKNOWN, read_call
from otel_llmcost.semconv.server_tools import unit_counts
from otel_llmcost.semconv.values import text

NAME = "litellm"

_USAGE_OBJECT = "metadata.usage_object"
FIELDS = replace(  # the OpenTelemetry names, plus LiteLLM's own
    genai.FIELDS,
    provider=("gen_ai.system", "gen_ai.provider.name", "error.llm_provider"),
    operation=(),
    cache_read=(*genai.FIELDS.cache_read, "usage.cache_read"),
    cache_write=(*genai.FIELDS.cache_write, "usage.cache_write"),
    reasoning=(*genai.FIELDS.reasoning, "usage.reasoning"),
    streaming=("llm.is_streaming", "gen_ai.request.stream"),
    emitter_cost=("gen_ai.cost.total_cost",),
    image_input=(*genai.FIELDS.image_input, "usage.image_input"),
    image_output=(*genai.FIELDS.image_output, "usage.image_output"),
    images=(*genai.FIELDS.images, "usage.images"),
)
_OPERATIONS = {"completion": "chat", "acompletion": "chat", "chat": "chat", "text_completion": "text_completion",
               "embedding": "embeddings", "aembedding": "embeddings", "embeddings": "embeddings",
               "image_generation": "image_generation", "aimage_generation": "image_generation",
               "transcription": "transcription", "atranscription": "transcription"}
_CALL_SPAN = "litellm_request"
_NEVER_CALLS = frozenset({"Received Proxy Server Request", "Failed Proxy Server Request"})
_MAX_USAGE_REPR = 20_000  # literal_eval is safe, but not free: never on a huge string

KEYS = FIELDS.keys() | {"llm.request.type", "litellm.call_id", "litellm.provider.model", _USAGE_OBJECT,
                        "gen_ai.operation.name"}
PREFIXES: tuple[str, ...] = ()


#: What recognises() looks for: attribute keys, scope name prefixes, span names (semconv.may_be_call).
MARKERS: frozenset[str] = frozenset({"litellm.call_id"})
SCOPES: tuple[str, ...] = ("litellm",)
SPAN_NAMES: frozenset[str] = frozenset({_CALL_SPAN, *_NEVER_CALLS})


def recognises(span: SpanRecord) -> bool:
    return (span.name == _CALL_SPAN or span.name in _NEVER_CALLS or span.scope_name.startswith("litellm")
            or "litellm.call_id" in span.attributes)


def extract(span: SpanRecord) -> LlmCall | None:
    attributes = span.attributes
    kind = str(attributes.get("llm.request.type") or attributes.get("gen_ai.operation.name") or "").lower()
    operation = _OPERATIONS.get(kind)
    if operation is None or span.name in _NEVER_CALLS:
        return None  # proxy wrappers, helper spans, and call types not priced by tokens
    with_usage = {**_usage_object(attributes.get(_USAGE_OBJECT)), **attributes}  # the span's own names win
    provider = text(with_usage, FIELDS.provider) or text(with_usage, ("litellm.provider.model",)).split("/")[0]
    inclusive = "gen_ai.usage.cache_read.input_tokens" in with_usage or any(k.startswith("usage.") for k in with_usage)
    call = read_call(replace(span, attributes=with_usage), FIELDS, NAME,
                     input_convention=INCLUSIVE if inclusive else UNKNOWN, output_convention=UNKNOWN,
                     operation=operation, provider=provider)
    prefix = call.provider + "/"
    if call.request_model.startswith(prefix):
        call = replace(call, request_model=call.request_model[len(prefix):])
    return call


def _usage_object(value) -> dict:
    """Cache, reasoning and unit counts from LiteLLM's Python-repr usage (OpenAI and Anthropic field names)."""
    if not isinstance(value, str) or len(value) > _MAX_USAGE_REPR:
        return {}
    try:
        usage = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return {}
    if not isinstance(usage, dict):
        return {}
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    found = {
        "usage.cache_read": usage.get("cache_read_input_tokens") or prompt.get("cached_tokens"),
        "usage.cache_write": usage.get("cache_creation_input_tokens") or prompt.get("cache_creation_tokens"),
        "usage.reasoning": completion.get("reasoning_tokens") if isinstance(completion, dict) else None,
        "usage.image_input": prompt.get("image_tokens") if isinstance(prompt, dict) else None,
        "usage.image_output": completion.get("image_tokens") if isinstance(completion, dict) else None,
        "usage.images": usage.get("output_image_count"),
    }
    counts = {key: value for key, value in found.items() if isinstance(value, int) and value > 0}
    return {**unit_counts(usage), **counts}
