"""Any FOCUS (FinOps Open Cost and Usage Specification) Cost and Usage file, CSV, versions 1.0 to 1.4:
AWS's FOCUS_1_2_AWS table, Azure's and Google's FOCUS exports, LiteLLM's, or ours (`export focus`).

FOCUS has no model column before 1.5: the model comes from SkuPriceDetails (`ModelId`, or `x_ModelId` as the
1.5 drafts and our export write it), else our `x_Model`. The kind comes from SkuMeter ("Input Tokens",
"Cache Read Input Tokens", ...). ConsumedQuantity is the token count; BilledCost the invoiced USD. Credits
(ChargeCategory Credit) are discount lines.
"""

from __future__ import annotations

import json

from otel_llmcost.reports.billed_kinds import BILLED_KINDS
from otel_llmcost.reports.exports.lines import DISCOUNT, OTHER, BilledLine, usd, utc_day

#: FOCUS provider names (ServiceProviderName, ProviderName) -> ours, with ServiceName deciding for clouds
_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "amazon web services": "aws.bedrock",
              "aws": "aws.bedrock", "microsoft": "azure.ai.openai", "google cloud": "gcp.vertex_ai",
              "google": "gcp.vertex_ai", "mistral ai": "mistral_ai"}
_METERS = {kind.meter.lower(): kind.name for kind in BILLED_KINDS}


def is_focus(header: list[str]) -> bool:
    return "ChargePeriodStart" in header and "BilledCost" in header


def read(rows: list[dict[str, str]]) -> list[BilledLine]:
    lines = []
    for row in rows:
        if row.get("BillingCurrency", "USD") != "USD":
            raise ValueError(f"FOCUS row in {row['BillingCurrency']!r}: only USD is reconciled")
        provider = row.get("x_Provider") or _PROVIDERS.get(
            (row.get("ServiceProviderName") or row.get("ProviderName") or "").strip().lower(), "")
        if not provider:
            continue
        details = json.loads(row.get("SkuPriceDetails") or "{}")
        model = details.get("ModelId") or details.get("x_ModelId") or row.get("x_Model") or ""
        cost = usd(row.get("BilledCost") or "0")
        day = utc_day(row["ChargePeriodStart"])
        account = row.get("SubAccountId") or ""
        if row.get("ChargeCategory") != "Usage":
            lines.append(BilledLine("focus", day, provider, model, DISCOUNT if cost < 0 else OTHER, None, cost,
                                    account, row.get("ChargeCategory") or ""))
            continue
        kind = _METERS.get((row.get("SkuMeter") or "").strip().lower(), OTHER)
        quantity = row.get("ConsumedQuantity")
        tokens = int(usd(quantity)) if quantity and kind != OTHER else None
        discount = "" if row.get("PricingCategory") in ("Standard", "", None) else row["PricingCategory"]
        lines.append(BilledLine("focus", day, provider, model, kind, tokens, cost, account, discount))
    return lines
