"""Joins the stages for one released trace: extract calls, attribute them, price them -> UsageRow."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from otel_llmcost.ingest.tracebuffer import TraceGroup
from otel_llmcost.kinds import COST_COLUMNS, COUNTS
from otel_llmcost.model import Cost, LlmCall, UsageRow
from otel_llmcost.pricing import PriceBook, price_call
from otel_llmcost.rows.attribution import Attributor
from otel_llmcost.rows.dedupe import count_once
from otel_llmcost.rows.rowcheck import unpriceable_counts
from otel_llmcost.semconv import InvalidSpan, extract_call
from otel_llmcost.semconv.providers import KNOWN_PROVIDERS, RESELLERS, UMBRELLAS, provider_from_host

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def build_usage_rows(
    group: TraceGroup, attributor: Attributor, price_book: PriceBook, now: datetime
) -> list[UsageRow]:
    """One priced row per LLM call among the group's spans (spans were validated at ingest)."""
    calls = []
    for span in group.spans:
        if span.span_id in group.calls:
            call = group.calls[span.span_id]
        else:  # replayed from the spool: extract again
            try:
                call = extract_call(span)
            except InvalidSpan as exc:  # only reachable for spans spooled by an older release
                logger.warning("span %s/%s skipped: %s", span.trace_id, span.span_id, exc)
                continue
        if call is not None:
            calls.append((span, call))
    if not calls:
        return []
    calls = [(span, _with_provider(call, price_book)) for span, call in count_once(calls, group.context)]
    attributions = attributor.attribute(calls, group.context)
    rows = []
    for (span, call), who in zip(calls, attributions, strict=True):
        ts = _EPOCH + timedelta(microseconds=span.start_ns // 1000)  # exact, unlike a float timestamp
        cost = _price(call, ts, price_book, who.tenant_id)
        rows.append(
            UsageRow(
                ts=ts,
                tenant_id=who.tenant_id,
                environment=who.environment,
                service_name=who.service_name,
                feature=who.feature,
                user_id=who.user_id,
                session_id=who.session_id,
                request_id=who.request_id,
                attempt=who.attempt,
                trace_id=span.trace_id,
                span_id=span.span_id,
                parent_span_id=span.parent_span_id,
                span_name=span.name,
                provider=call.provider,
                operation=call.operation,
                request_model=call.request_model,
                response_model=call.response_model,
                response_id=call.response_id,
                **{name: getattr(call, name) for name in COUNTS},
                **{name: getattr(cost, name) for name in COST_COLUMNS},
                cost_usd=cost.cost_usd,
                emitter_cost_usd=call.emitter_cost_usd,
                cost_status=cost.status,
                cost_note=cost.note,
                price_id=cost.price_id,
                price_book_version=cost.price_book_version,
                price_tier=cost.price_tier,
                price_multiplier=cost.price_multiplier,
                status="error" if call.error_type else "ok",
                error_type=call.error_type,
                latency_ms=(span.end_ns - span.start_ns) / 1e6,
                ttft_ms=call.ttft_ms,
                streaming=call.streaming,
                service_tier=call.service_tier,
                server_address=call.server_address,
                instrumentation=f"{call.dialect}:{span.scope_name}" if span.scope_name else call.dialect,
                tags=who.tags,
                metadata=dict(who.metadata),
                ingested_at=now,
                project=who.project,
                api_key_id=who.api_key_id,
            )
        )
    return rows


def _price(call: LlmCall, ts: datetime, price_book: PriceBook, tenant: str) -> Cost:
    """The call's cost; counts beyond what one call can hold, or too large for exact arithmetic, are not priced."""
    issue = unpriceable_counts(call)
    if issue:
        call = replace(call, usage_issue="; ".join(filter(None, (call.usage_issue, issue))))
    try:
        return price_call(call, ts, price_book, tenant=tenant)
    except ArithmeticError as exc:  # decimal.InvalidOperation: a cost beyond 28 significant digits
        return Cost("invalid_usage", f"the counts are too large to price ({type(exc).__name__})", "",
                    price_book.version)


def _with_provider(call: LlmCall, price_book: PriceBook) -> LlmCall:
    """The provider that billed the call, when the span does not name one. Some emitters name none (Langfuse,
    LiteLLM embeddings); frameworks put their own name where the provider goes ("langchain", "openai_agents");
    an umbrella name ("gcp.gen_ai") covers several price lists. The server address says, else the price
    book's providers of the model (within the umbrella's family), its vendor before the hosts reselling it."""
    if call.provider in KNOWN_PROVIDERS and call.provider not in UMBRELLAS:
        return call
    model = call.response_model or call.request_model
    if call.provider not in UMBRELLAS and (host := provider_from_host(call.server_address)):
        return replace(call, provider=host)
    if not model:
        return call
    family = UMBRELLAS.get(call.provider, "")
    providers = sorted((p for p in price_book.providers_for(model) if p.startswith(family)),
                       key=lambda p: p in RESELLERS or p in UMBRELLAS)  # stable: the vendor before hosts
    return replace(call, provider=providers[0]) if providers else call
