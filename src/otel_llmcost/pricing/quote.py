"""A price quote for given usage, through the same pricing path as ingested calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from otel_llmcost.model import Cost, LlmCall
from otel_llmcost.pricing.book import PriceBook
from otel_llmcost.pricing.cost import price_call

USAGE_KINDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens",
               "reasoning_tokens", "audio_input_tokens", "audio_output_tokens", "image_input_tokens",
               "image_output_tokens", "web_searches")


def quote(price_book: PriceBook, provider: str, model: str, usage: dict[str, int], at: datetime,
          service_tier: str = "", tenant: str = "") -> Cost:
    """Cost of a call with this usage (our convention: input includes cache and audio input; output
    includes reasoning and audio output)."""
    counts: dict[str, Any] = {kind: int(usage.get(kind, 0)) for kind in USAGE_KINDS}  # LlmCall keywords
    call = LlmCall(
        dialect="quote", provider=provider, operation="chat", request_model=model, response_model="",
        response_id="", error_type="", streaming=False, ttft_ms=None, service_tier=service_tier,
        server_address="", **counts,
    )
    return price_call(call, at, price_book, tenant=tenant)
