"""Azure Cost Management "cost details" exports (CSV, actual cost), Azure OpenAI / Foundry meters.

Columns from learn.microsoft.com's cost details field reference (EA/MCA usage details, as of 2026-11):
`Date` (MM/DD/YYYY), `MeterCategory`, `MeterName`, `Quantity`, `UnitOfMeasure`, `CostInBillingCurrency`,
`BillingCurrencyCode`, `ResourceId`, `ChargeType`. Meter names abbreviate the model and the kind:
"gpt-4o 1120 Inp glbl Tokens", "gpt 4o 1120 cached Inp glbl Tokens", "gpt-4o 1120 Outp glbl Tokens",
"GPT 5 Inpt Glbl 1M Tokens"; `Quantity` counts UnitOfMeasure units ("1K" or "1M" tokens).
"""

from __future__ import annotations

import re

from otel_llmcost.reports.exports.lines import DISCOUNT, OTHER, BilledLine, usd, utc_day

PROVIDER = "azure.ai.openai"
_KIND = re.compile(r"\s(?P<cached>cached\s+|cchd\s+)?(?P<dir>inpt?|outp|input|output)\b", re.IGNORECASE)
_VERSION = re.compile(r"\s\d{4}$")
_SCALE = {"1k": 1000, "1m": 1_000_000, "1000": 1000, "1000000": 1_000_000}


def is_cost_details(header: list[str]) -> bool:
    return "MeterName" in header and ("CostInBillingCurrency" in header or "Cost" in header)


def read(rows: list[dict[str, str]]) -> list[BilledLine]:
    lines = []
    for row in rows:
        category = (row.get("MeterCategory") or "") + " " + (row.get("MeterSubCategory") or "")
        if not re.search(r"openai|cognitive|foundry", category, re.IGNORECASE):
            continue
        currency = row.get("BillingCurrencyCode") or row.get("BillingCurrency") or "USD"
        if currency != "USD":
            raise ValueError(f"Azure cost in {currency!r}: only USD is reconciled")
        day = utc_day(row["Date"])
        cost = usd(row.get("CostInBillingCurrency") or row.get("Cost") or "0")
        meter = row.get("MeterName") or ""
        account = row.get("ResourceId") or ""
        if (row.get("ChargeType") or "Usage") not in ("Usage", ""):
            lines.append(BilledLine("azure-cost", day, PROVIDER, "", DISCOUNT if cost < 0 else OTHER, None, cost,
                                    account, row["ChargeType"]))
            continue
        found = _KIND.search(meter)
        if found is None:
            lines.append(BilledLine("azure-cost", day, PROVIDER, meter, OTHER, None, cost, account))
            continue
        kind = "cache_read" if found.group("cached") else (
            "output" if found.group("dir").lower().startswith("out") else "input")
        model = _VERSION.sub("", meter[: found.start()].strip())
        if re.match(r"^gpt \S", model, re.IGNORECASE):  # "gpt 4o" -> "gpt-4o"
            model = "gpt-" + model[4:]
        unit = (row.get("UnitOfMeasure") or "1").lower().split()[0]
        scale = _SCALE.get(unit, 1)
        if re.search(r"\b1m tokens\b", meter, re.IGNORECASE):
            scale = 1_000_000
        tokens = int(usd(row.get("Quantity") or "0") * scale)
        discount = "batch" if "batch" in meter.lower() else ""
        lines.append(BilledLine("azure-cost", day, PROVIDER, model, kind, tokens, cost, account, discount))
    return lines
