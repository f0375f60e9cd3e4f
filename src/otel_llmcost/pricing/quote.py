"""A price quote for given usage, through the same pricing path as ingested calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from otel_llmcost.kinds import COUNTS
from otel_llmcost.model import Cost, LlmCall
from otel_llmcost.pricing.book import PriceBook
from otel_llmcost.pricing.cost import price_call


def quote(price_book: PriceBook, provider: str, model: str, usage: dict[str, int], at: datetime,
          service_tier: str = "", tenant: str = "") -> Cost:
    """Cost of a call with this usage: counts by kinds.COUNTS name, in our convention (input includes cache
    and audio input, output includes reasoning and audio output); counts not given are 0."""
    counts: dict[str, Any] = {name: int(usage.get(name, 0)) for name in COUNTS}  # LlmCall keywords
    call = LlmCall(
        dialect="quote", provider=provider, operation="chat", request_model=model, response_model="",
        response_id="", error_type="", streaming=False, ttft_ms=None, service_tier=service_tier,
        server_address="", **counts,
    )
    return price_call(call, at, price_book, tenant=tenant)
