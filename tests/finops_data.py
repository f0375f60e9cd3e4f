"""Stored calls for the FinOps tests: a few calls a day of five providers' models, priced by the bundled
price book as ingestion prices them. tests/fixtures/exports/ holds the providers' bills of exactly these
calls (written by tests/fixtures/exports/make_fixtures.py from this ledger and the same book)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from test_store import BASE_ROW

from otel_llmcost.model import UsageRow
from otel_llmcost.pricing import load_price_book
from otel_llmcost.pricing.quote import quote

DAYS = (date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 5))
#: provider, the model the app asked for, the model the provider answered with, tenant, feature
MODELS = (
    ("openai", "gpt-4.1", "gpt-4.1-2025-04-14", "acme", "summarize"),
    ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "acme", "chat"),
    ("aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "", "globex", "triage"),
    ("gcp.vertex_ai", "gemini-2.5-flash", "gemini-2.5-flash", "globex", "search"),
    ("azure.ai.openai", "gpt-4o", "gpt-4o-2024-11-20", "initech", "draft"),
)
CALLS_PER_DAY = 3


def usage_of(model_index: int, day_index: int, call: int) -> dict[str, int]:
    """Tokens of one call: varied, with cache reads everywhere and cache writes where the provider has them."""
    seed = 1 + model_index * 7 + day_index * 3 + call
    usage = {"input_tokens": 120_000 + 13_711 * seed, "output_tokens": 25_000 + 4_127 * seed,
             "cache_read_tokens": 30_000 + 1_103 * seed}
    if MODELS[model_index][0] in ("anthropic", "aws.bedrock"):
        usage["cache_write_tokens"] = 12_000 + 509 * seed
    return usage


def with_contract_discount(rows: list[UsageRow], tenant: str, multiplier: Decimal) -> list[UsageRow]:
    """The rows, the tenant's priced as under a contract adjustment of the price book (cost x multiplier)."""
    costs = ("cost_usd", "input_cost_usd", "output_cost_usd", "cache_read_cost_usd", "cache_write_cost_usd")
    return [dataclasses.replace(row, price_multiplier=multiplier,
                                **{name: getattr(row, name) * multiplier for name in costs})
            if row.tenant_id == tenant else row for row in rows]


def ledger(book=None) -> list[UsageRow]:
    book = book or load_price_book([])
    rows = []
    for m, (provider, asked, answered, tenant, feature) in enumerate(MODELS):
        for d, day in enumerate(DAYS):
            for call in range(CALLS_PER_DAY):
                ts = datetime(day.year, day.month, day.day, 2 + 7 * call, 15, tzinfo=timezone.utc)
                usage = usage_of(m, d, call)
                cost = quote(book, provider, answered or asked, usage, ts)
                assert cost.status == "priced", (provider, asked, cost.note)
                rows.append(dataclasses.replace(
                    BASE_ROW, ts=ts, tenant_id=tenant, feature=feature, provider=provider, request_model=asked,
                    response_model=answered, trace_id=f"{m:02d}{d:02d}{call:02d}".ljust(32, "a"),
                    span_id=f"{m:02d}{d:02d}{call:02d}".ljust(16, "b"), request_id=f"r-{m}-{d}-{call}",
                    user_id=f"u{call}", session_id=f"s{m}{d}", cache_read_tokens=usage["cache_read_tokens"],
                    cache_write_tokens=usage.get("cache_write_tokens", 0), input_tokens=usage["input_tokens"],
                    output_tokens=usage["output_tokens"], ingested_at=ts + timedelta(seconds=1),
                    **{name: getattr(cost, name) for name in (
                        "input_cost_usd", "cache_read_cost_usd", "cache_write_cost_usd", "output_cost_usd",
                        "reasoning_cost_usd", "audio_cost_usd", "image_cost_usd", "request_fee_usd",
                        "search_fee_usd", "cost_usd", "price_id", "price_book_version", "price_tier",
                        "price_multiplier")},
                    cost_status=cost.status, cost_note=cost.note))
    return rows
