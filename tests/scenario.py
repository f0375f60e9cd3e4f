"""An instrumented app, as a user would write it with opentelemetry-sdk, and the rows it must produce.

One request of tenant "acme" to feature "summarize": a chat call that is rate-limited and retried, an
Anthropic call with cache reads/writes and reasoning (deprecated attribute names), an embeddings call, a
call to a model nobody prices, plus spans that must never be billed (a DB query, an agent span carrying
aggregated usage).
"""

from __future__ import annotations

from decimal import Decimal

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

#: Prices the test states itself, layered over the bundled book (USD per million tokens).
TEST_PRICE_BOOK = """
version: test-book-1
prices:
  - provider: openai
    models: [gpt-4o-mini]
    pattern: 'gpt-4o-mini-\\d{4}-\\d{2}-\\d{2}'
    effective_from: 2020-01-01
    input: "0.15"
    cache_read: "0.075"
    output: "0.60"
  - provider: anthropic
    models: [test-claude]
    effective_from: 2020-01-01
    input: "3"
    cache_read: "0.30"
    cache_write: "3.75"
    output: "15"
    reasoning: "20"
  - provider: openai
    models: [text-embedding-3-small]
    effective_from: 2020-01-01
    input: "0.02"
    output: "0"
"""


def llm_span_attributes(provider: str, model: str, operation: str = "chat", **usage) -> dict:
    attributes = {"gen_ai.operation.name": operation, "gen_ai.provider.name": provider, "gen_ai.request.model": model}
    attributes.update({f"gen_ai.usage.{key}": value for key, value in usage.items()})
    return attributes


def emit_request(exporter, request_id: str, service: str = "summarizer-api") -> None:
    """Run the scenario once through `exporter` and flush it."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment.name": "prod"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("scenario-app", "1.0")
    app_attributes = {"tenant.id": "acme", "feature.name": "summarize", "request.id": request_id, "user.id": "u-42"}
    with tracer.start_as_current_span("POST /summarize", kind=SpanKind.SERVER, attributes=app_attributes):
        with tracer.start_as_current_span("load document", attributes={"db.system": "postgresql"}):
            pass
        with tracer.start_as_current_span("invoke_agent summarizer", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 999_999, "gen_ai.usage.output_tokens": 999_999,
        }):
            # Attempt 1: rate limited, no usage.
            with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT,
                                              attributes=llm_span_attributes("openai", "gpt-4o-mini")) as span:
                span.set_attribute("error.type", "RateLimitError")
                span.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
            # Attempt 2: succeeds.
            with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=llm_span_attributes(
                "openai", "gpt-4o-mini", input_tokens=1200, output_tokens=300, **{"cache_read.input_tokens": 200},
            )) as span:
                span.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
                span.set_attribute("gen_ai.response.id", "chatcmpl-1")
        # Deprecated names: gen_ai.system, prompt/completion tokens, cache_creation.
        with tracer.start_as_current_span("chat test-claude", kind=SpanKind.CLIENT, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.system": "anthropic", "gen_ai.request.model": "test-claude",
            "gen_ai.usage.prompt_tokens": 5000, "gen_ai.usage.completion_tokens": 800,
            "gen_ai.usage.cache_read.input_tokens": 3000, "gen_ai.usage.cache_creation.input_tokens": 1000,
            "gen_ai.usage.reasoning.output_tokens": 200,
        }):
            pass
        with tracer.start_as_current_span("embeddings text-embedding-3-small", kind=SpanKind.CLIENT,
                                          attributes=llm_span_attributes("openai", "text-embedding-3-small",
                                                                         "embeddings", input_tokens=400)):
            pass
        with tracer.start_as_current_span("chat mystery-model-9000", kind=SpanKind.CLIENT,
                                          attributes=llm_span_attributes("openai", "mystery-model-9000",
                                                                         input_tokens=10, output_tokens=5)):
            pass
    provider.force_flush()
    provider.shutdown()


#: The rows one emit_request must produce, ordered by start time. Costs worked out by hand from
#: TEST_PRICE_BOOK: e.g. the retry is 1000 x 0.15 + 200 x 0.075 + 300 x 0.60, per million.
EXPECTED_ROWS = [
    {"request_model": "gpt-4o-mini", "attempt": 1, "status": "error", "error_type": "RateLimitError",
     "input_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0, "output_tokens": 0, "reasoning_tokens": 0,
     "cost_usd": Decimal("0"), "cost_status": "priced"},
    {"request_model": "gpt-4o-mini", "attempt": 2, "status": "ok", "error_type": "",
     "input_tokens": 1200, "cache_read_tokens": 200, "cache_write_tokens": 0, "output_tokens": 300,
     "reasoning_tokens": 0, "cost_usd": Decimal("0.000345"), "cost_status": "priced"},
    # 1000 x 3 + 3000 x 0.30 + 1000 x 3.75 + 600 x 15 + 200 x 20 = 20650 per million
    {"request_model": "test-claude", "attempt": 1, "status": "ok", "error_type": "",
     "input_tokens": 5000, "cache_read_tokens": 3000, "cache_write_tokens": 1000, "output_tokens": 800,
     "reasoning_tokens": 200, "cost_usd": Decimal("0.02065"), "cost_status": "priced"},
    {"request_model": "text-embedding-3-small", "attempt": 1, "status": "ok", "error_type": "",
     "input_tokens": 400, "cache_read_tokens": 0, "cache_write_tokens": 0, "output_tokens": 0,
     "reasoning_tokens": 0, "cost_usd": Decimal("0.000008"), "cost_status": "priced"},
    {"request_model": "mystery-model-9000", "attempt": 1, "status": "ok", "error_type": "",
     "input_tokens": 10, "cache_read_tokens": 0, "cache_write_tokens": 0, "output_tokens": 5,
     "reasoning_tokens": 0, "cost_usd": None, "cost_status": "unpriced"},
]
