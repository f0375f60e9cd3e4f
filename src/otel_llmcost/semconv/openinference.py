"""OpenInference (Arize Phoenix) spans: `openinference.span.kind` LLM / EMBEDDING.

Spec: https://github.com/Arize-ai/openinference/blob/main/spec/semantic_conventions.md
`llm.token_count.prompt` includes cache reads and writes (the Anthropic instrumentation sums them);
`llm.system` names the model vendor and `llm.provider` the host (azure, aws, google...). The OpenAI
instrumentation names only the response model; the requested model and streaming are read from the small
`llm.invocation_parameters` JSON. The response id is only inside `output.value` (the whole response), which
we do not keep, so duplicates of these spans are recognised by time, model and tokens (rows/dedupe.py).
"""

from __future__ import annotations

from dataclasses import replace

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv.fields import INCLUSIVE, Fields, read_call
from otel_llmcost.semconv.values import json_value, text

NAME = "openinference"

FIELDS = Fields(
    request_model=("llm.request.model_name", "llm.model_name", "embedding.model_name"),
    response_model=("llm.response.model_name", "llm.model_name", "embedding.model_name"),
    response_id=("llm.response.id", "gen_ai.response.id"),
    input=("llm.token_count.prompt",),
    output=("llm.token_count.completion",),
    cache_read=("llm.token_count.prompt_details.cache_read", "llm.token_count.prompt_details.cache_input"),
    cache_write=("llm.token_count.prompt_details.cache_write",),
    reasoning=("llm.token_count.completion_details.reasoning",),
    total=("llm.token_count.total",),
    audio_input=("llm.token_count.prompt_details.audio",),
    audio_output=("llm.token_count.completion_details.audio",),
    emitter_cost=("llm.cost.total",),
)
_KINDS = {"LLM": "chat", "EMBEDDING": "embeddings"}
# A host that resells a vendor's models is the provider that bills the call.
_HOSTS = {("azure", "openai"): "azure.ai.openai", ("aws", None): "aws.bedrock",
          ("google", "vertexai"): "gcp.vertex_ai", ("google", None): "gcp.gemini"}

_PARAMETERS = "llm.invocation_parameters"

KEYS = FIELDS.keys() | {"openinference.span.kind", "llm.system", "llm.provider", _PARAMETERS}
PREFIXES: tuple[str, ...] = ()


#: What recognises() looks for: attribute keys, scope name prefixes, span names (semconv.may_be_call).
MARKERS: frozenset[str] = frozenset({"openinference.span.kind"})
SCOPES: tuple[str, ...] = ()
SPAN_NAMES: frozenset[str] = frozenset()


def recognises(span: SpanRecord) -> bool:
    return "openinference.span.kind" in span.attributes


def extract(span: SpanRecord) -> LlmCall | None:
    operation = _KINDS.get(str(span.attributes.get("openinference.span.kind", "")).upper())
    if operation is None:
        return None  # CHAIN, AGENT, TOOL, RETRIEVER...: never a model call of their own
    system = text(span.attributes, ("llm.system",)).lower()
    host = text(span.attributes, ("llm.provider",)).lower()
    provider = _HOSTS.get((host, system)) or _HOSTS.get((host, None)) or system or host
    parameters = json_value(span.attributes.get(_PARAMETERS), dict)
    call = read_call(span, FIELDS, NAME, input_convention=INCLUSIVE, operation=operation, provider=provider,
                     streaming=parameters.get("stream") is True)
    requested = parameters.get("model")
    if isinstance(requested, str) and requested and not text(span.attributes, ("llm.request.model_name",)):
        call = replace(call, request_model=requested)
    return call

