"""Pricing stage: a versioned price book and the cost of a call, or of a batch of calls."""

from otel_llmcost.pricing.book import PriceBook, PriceEntry
from otel_llmcost.pricing.cost import price_call, price_calls
from otel_llmcost.pricing.loader import load_price_book, validate_file
from otel_llmcost.pricing.quote import quote

__all__ = ["PriceBook", "PriceEntry", "load_price_book", "price_call", "price_calls", "quote", "validate_file"]
