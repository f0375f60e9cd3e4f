"""AWS Cost and Usage Report 2.0 (Data Exports, CSV) lines of Amazon Bedrock.

Columns from the CUR 2.0 data dictionary (docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html)
and Bedrock's "Understanding your Amazon Bedrock Cost and Usage Report data" page, as of 2026-11: one line per
token type, the kind in `line_item_usage_type` ("USE1-Nova-Lite-input-tokens", "...-cache-read-input-token-count",
Marketplace models "USE1-MP:USE1_InputTokenCount-Units" with the model in `product_product_name`, "Claude Sonnet
4.5 (Amazon Bedrock Edition)"). `line_item_usage_amount` is in tokens unless `pricing_unit` says thousands
or millions. Discounts are lines of their own types (EdpDiscount, PrivateRateDiscount, Credit, ...).
"""

from __future__ import annotations

import re

from otel_llmcost.reports.exports.lines import DISCOUNT, OTHER, BilledLine, usd, utc_day

PROVIDER = "aws.bedrock"
HEADER = "line_item_usage_type"
_USAGE_TYPES = ("Usage", "DiscountedUsage")
#: usage-type text -> kind, tested in order on the lower-cased usage type
_KINDS = (("cache-read", "cache_read"), ("cachereadinput", "cache_read"), ("cache_read", "cache_read"),
          ("cache-write", "cache_write"), ("cachewriteinput", "cache_write"), ("cache_write", "cache_write"),
          ("input", "input"), ("output", "output"))
_FIRST_PARTY = re.compile(r"^[A-Z0-9]+-(?P<model>.+?)-(?:mantle-)?(?:cache-(?:read|write)-)?(?:input|output)-token",
                          re.IGNORECASE)
_EDITION = re.compile(r"\s*\((?:amazon )?bedrock edition\)\s*$", re.IGNORECASE)
_SCALE = (("million", 1_000_000), ("1m", 1_000_000), ("thousand", 1000), ("1k", 1000))


def is_cur(header: list[str]) -> bool:
    return HEADER in header and "line_item_unblended_cost" in header


def read(rows: list[dict[str, str]]) -> list[BilledLine]:
    lines = []
    for row in rows:
        if row.get("line_item_product_code") not in ("AmazonBedrock", "AmazonBedrockService", "") and \
                "bedrock" not in (row.get("product_product_name") or "").lower():
            continue
        if row.get("line_item_currency_code", "USD") != "USD":
            raise ValueError(f"CUR line in {row['line_item_currency_code']!r}: only USD is reconciled")
        day = utc_day(row["line_item_usage_start_date"])
        cost = usd(row["line_item_unblended_cost"])
        line_type = row.get("line_item_line_item_type") or "Usage"
        account = row.get("line_item_iam_principal") or row.get("line_item_usage_account_id") or ""
        model = _model(row)
        if line_type not in _USAGE_TYPES:
            lines.append(BilledLine("aws-cur", day, PROVIDER, model, DISCOUNT if cost < 0 else OTHER, None, cost,
                                    account, line_type))
            continue
        usage_type = row[HEADER].lower()
        kind = next((kind for text, kind in _KINDS if text in usage_type), OTHER)
        tokens = None
        if kind != OTHER:
            unit = (row.get("pricing_unit") or "").lower()
            scale = next((factor for text, factor in _SCALE if text in unit), 1)
            tokens = int(usd(row["line_item_usage_amount"]) * scale)
        discount = "batch" if "batch" in usage_type else ("flex" if "flex" in usage_type else "")
        lines.append(BilledLine("aws-cur", day, PROVIDER, model, kind, tokens, cost, account, discount))
    return lines


def _model(row: dict[str, str]) -> str:
    product = _EDITION.sub("", row.get("product_product_name") or "")
    if product and product.lower() not in ("amazon bedrock", "amazon bedrock service"):
        return product
    found = _FIRST_PARTY.match(row.get(HEADER) or "")
    return found.group("model") if found else ""
