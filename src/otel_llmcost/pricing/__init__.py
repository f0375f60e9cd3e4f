"""Pricing stage: a versioned price book and the cost of one call."""

from otel_llmcost.pricing.book import PriceBook, PriceEntry, load_price_book
from otel_llmcost.pricing.cost import price_call

__all__ = ["PriceBook", "PriceEntry", "load_price_book", "price_call"]
