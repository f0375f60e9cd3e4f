"""What the recorded usage would have cost on another model, beside what it did cost.

Calls are grouped by identical usage (one query), each group is priced once on the target model through
the ingestion pricing path, at today's prices, and multiplied by its call count. Cache reads and writes
are priced at the target's cache rates (its input rate where it has none, marked as an estimate).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from otel_llmcost.kinds import COUNTS
from otel_llmcost.pricing import PriceBook, quote
from otel_llmcost.reports import queries
from otel_llmcost.store import QueryableStore


@dataclass
class WhatIfLine:
    provider: str
    model: str
    calls: int = 0
    actual_usd: Decimal = Decimal(0)
    unpriced_calls: int = 0
    whatif_usd: Decimal = Decimal(0)
    estimated_calls: int = 0


def what_if(store: QueryableStore, price_book: PriceBook, provider: str, model: str, since: datetime,
            until: datetime, now: datetime, tenant: str = "", feature: str = "") -> list[WhatIfLine]:
    """One line per model actually used; raises ValueError when the target model has no price."""
    target = quote(price_book, provider, model, {}, now)
    if target.status == "unpriced":
        raise ValueError(target.note)
    params = {**queries.time_range(since, until), "tenant": tenant, "feature": feature}
    lines: dict[tuple[str, str], WhatIfLine] = defaultdict(lambda: WhatIfLine("", ""))
    for shape in store.query(queries.usage_shapes(store.database), params):
        line = lines[(shape["provider"], shape["model"])]
        line.provider, line.model = shape["provider"], shape["model"]
        line.calls += shape["calls"]
        line.actual_usd += Decimal(shape["actual_usd"] or 0)
        line.unpriced_calls += shape["unpriced_calls"]
        cost = quote(price_book, provider, model, {kind: shape[kind] for kind in COUNTS}, now,
                     service_tier=shape["service_tier"], tenant=tenant)
        line.whatif_usd += (cost.cost_usd or Decimal(0)) * shape["calls"]
        line.estimated_calls += shape["calls"] if cost.status == "estimated" else 0
    return sorted(lines.values(), key=lambda line: (-line.actual_usd, line.model))
