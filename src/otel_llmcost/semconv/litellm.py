"""LiteLLM's OpenTelemetry callback (SDK and proxy): the `litellm_request` span.

Source: https://github.com/BerriAI/litellm/blob/main/litellm/integrations/opentelemetry.py
`gen_ai.system` is LiteLLM's custom_llm_provider and the model may carry it as a prefix ("openai/gpt-4o").
The proxy's own `Received Proxy Server Request` span wraps the call and is never billed. LiteLLM's price
estimate is reported as gen_ai.cost.total_cost.
"""

from __future__ import annotations

from dataclasses import replace

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.semconv import genai
from otel_llmcost.semconv.fields import UNKNOWN, Fields, read_call

NAME = "litellm"

FIELDS = Fields(
    provider=("gen_ai.system", "gen_ai.provider.name"),
    request_model=genai.FIELDS.request_model,
    response_model=genai.FIELDS.response_model,
    response_id=genai.FIELDS.response_id,
    input=genai.FIELDS.input,
    output=genai.FIELDS.output,
    cache_read=genai.FIELDS.cache_read,
    cache_write=genai.FIELDS.cache_write,
    reasoning=genai.FIELDS.reasoning,
    streaming=("llm.is_streaming", "gen_ai.request.stream"),
    emitter_cost=("gen_ai.cost.total_cost",),
)
_EMBEDDING_TYPES = ("embedding", "aembedding")

KEYS = FIELDS.keys() | {"llm.request.type"}
PREFIXES: tuple[str, ...] = ()


def recognises(span: SpanRecord) -> bool:
    return span.name in ("litellm_request", "Received Proxy Server Request") or span.scope_name.startswith("litellm")


def extract(span: SpanRecord) -> LlmCall | None:
    if span.name != "litellm_request":
        return None
    call_type = str(span.attributes.get("llm.request.type", "completion")).lower()
    operation = "embeddings" if call_type in _EMBEDDING_TYPES else "chat"
    call = read_call(span, FIELDS, NAME, input_convention=UNKNOWN, output_convention=UNKNOWN, operation=operation)
    prefix = call.provider + "/"
    if call.request_model.startswith(prefix):
        call = replace(call, request_model=call.request_model[len(prefix):])
    return call
