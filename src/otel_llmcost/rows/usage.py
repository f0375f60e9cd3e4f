"""Joins the stages: each released trace's calls extracted and attributed, then a batch of them priced -> UsageRow."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta, timezone
from operator import attrgetter

from otel_llmcost.ingest.tracebuffer import TraceGroup
from otel_llmcost.kinds import COST_COLUMNS, COUNTS
from otel_llmcost.model import Attribution, Cost, LlmCall, SpanRecord, UsageRow
from otel_llmcost.pricing import PriceBook, price_call, price_calls
from otel_llmcost.rows.attribution import Attributor
from otel_llmcost.rows.dedupe import count_once
from otel_llmcost.rows.rowcheck import unpriceable_counts
from otel_llmcost.semconv import InvalidSpan, extract_call
from otel_llmcost.semconv.providers import KNOWN_PROVIDERS, RESELLERS, UMBRELLAS, provider_from_host

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
Attributed = tuple[SpanRecord, LlmCall, Attribution]  # a call to bill, and who it is charged to


def attributed_calls(group: TraceGroup, attributor: Attributor, price_book: PriceBook) -> list[Attributed]:
    """The group's LLM calls to bill (spans were validated at ingest), each with who it is charged to."""
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
    return [(span, call, who) for (span, call), who in zip(calls, attributions, strict=True)]


def usage_rows(calls: Sequence[Attributed], price_book: PriceBook, now: datetime) -> list[UsageRow]:
    """One priced row per call, the whole batch priced at once (price_calls)."""
    ts = [_EPOCH + timedelta(microseconds=span.start_ns // 1000) for span, _, _ in calls]  # exact, unlike a float
    priced = [_priceable(call) for _, call, _ in calls]
    tenants = [who.tenant_id for _, _, who in calls]
    try:
        costs = price_calls(priced, ts, price_book, tenants)
    except ArithmeticError:  # some call's cost goes beyond exact arithmetic: find which, pricing each alone
        costs = [_price(call, at, price_book, tenant) for call, at, tenant in zip(priced, ts, tenants, strict=True)]
    return [
        UsageRow(  # type: ignore[call-arg]  # positionally, in _ROW_LAYOUT's order: checked on import
            at, who.tenant_id, who.environment, who.service_name, who.feature, who.user_id, who.session_id,
            who.request_id, who.attempt, span.trace_id, span.span_id, span.parent_span_id, span.name, call.provider,
            call.operation, call.request_model, call.response_model, call.response_id, *_counts(call),
            *_amounts(cost), cost.cost_usd, call.emitter_cost_usd, cost.status, cost.note, cost.price_id,
            cost.price_book_version, cost.price_tier, cost.price_multiplier, "error" if call.error_type else "ok",
            call.error_type, (span.end_ns - span.start_ns) / 1e6, call.ttft_ms, call.streaming, call.service_tier,
            call.server_address, f"{call.dialect}:{span.scope_name}" if span.scope_name else call.dialect, who.tags,
            dict(who.metadata), now, who.project, who.api_key_id,
        )
        for (span, call, who), at, cost in zip(calls, ts, costs, strict=True)
    ]


#: UsageRow's fields in the order usage_rows passes them
_ROW_LAYOUT = [
    "ts", "tenant_id", "environment", "service_name", "feature", "user_id", "session_id", "request_id", "attempt",
    "trace_id", "span_id", "parent_span_id", "span_name", "provider", "operation", "request_model",
    "response_model", "response_id", *COUNTS, *COST_COLUMNS, "cost_usd", "emitter_cost_usd", "cost_status",
    "cost_note", "price_id", "price_book_version", "price_tier", "price_multiplier", "status", "error_type",
    "latency_ms", "ttft_ms", "streaming", "service_tier", "server_address", "instrumentation", "tags", "metadata",
    "ingested_at", "project", "api_key_id",
]
if _ROW_LAYOUT != [f.name for f in fields(UsageRow)]:
    raise RuntimeError("usage_rows passes UsageRow's fields positionally: update _ROW_LAYOUT with UsageRow")
_counts, _amounts = attrgetter(*COUNTS), attrgetter(*COST_COLUMNS)


def _priceable(call: LlmCall) -> LlmCall:
    """The call, with counts beyond what one call can hold noted as its usage issue (so it is not priced)."""
    issue = unpriceable_counts(call)
    return replace(call, usage_issue="; ".join(filter(None, (call.usage_issue, issue)))) if issue else call


def _price(call: LlmCall, ts: datetime, price_book: PriceBook, tenant: str) -> Cost:
    """The call's cost alone; counts too large for exact arithmetic are not priced."""
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
