"""For apps: say once per request who and what it is for; every span started inside carries it.

    from otel_llmcost.context import LlmContextSpanProcessor, llm_context

    provider.add_span_processor(LlmContextSpanProcessor())   # once, before the exporter's processor
    with llm_context(tenant="acme", feature="summarize", request_id=req.id, user=req.user_id):
        client.chat.completions.create(...)                   # any instrumentation, any depth

The receiver finds these attributes on the LLM span itself, so attribution never depends on ancestors
arriving or on which library made the span. Needs opentelemetry-sdk (`pip install otel-llmcost[app]`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.util.types import AttributeValue

_CONTEXT_KEY = otel_context.create_key("otel_llmcost.attribution")

#: llm_context argument -> the span attribute the receiver reads by default (see config.py).
ATTRIBUTES = {
    "tenant": "tenant.id",
    "feature": "feature.name",
    "request_id": "request.id",
    "user": "user.id",
    "session": "session.id",
    "attempt": "otel_llmcost.attempt",
}
_METADATA_PREFIX = "otel_llmcost.metadata."


@contextmanager
def llm_context(
    *,
    tenant: str | None = None,
    feature: str | None = None,
    request_id: str | None = None,
    user: str | None = None,
    session: str | None = None,
    attempt: int | None = None,
    **metadata: str,
) -> Iterator[None]:
    """Attribution for every span started inside; nested contexts override only what they set."""
    given = {"tenant": tenant, "feature": feature, "request_id": request_id, "user": user,
             "session": session, "attempt": attempt}
    current = otel_context.get_value(_CONTEXT_KEY)
    attributes: dict[str, AttributeValue] = dict(current) if isinstance(current, dict) else {}
    attributes.update({ATTRIBUTES[name]: value for name, value in given.items() if value is not None})
    attributes.update({_METADATA_PREFIX + key: str(value) for key, value in metadata.items()})
    token = otel_context.attach(otel_context.set_value(_CONTEXT_KEY, attributes))
    try:
        yield
    finally:
        otel_context.detach(token)


class LlmContextSpanProcessor(SpanProcessor):
    """Copies the current llm_context onto each span as it starts."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        attributes = otel_context.get_value(_CONTEXT_KEY, parent_context)
        if isinstance(attributes, dict) and attributes:
            span.set_attributes(attributes)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
