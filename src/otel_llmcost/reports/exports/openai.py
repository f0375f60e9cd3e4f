"""OpenAI's Usage API (`/v1/organization/usage/completions`) and Costs API (`/v1/organization/costs`) pages.

Shapes from openai/openai-openapi `openapi.yaml` (UsageCompletionsResult, CostsResult; commit of
2026-08-21). Usage counts `input_tokens` with cached and cache-write tokens inside; the disjoint figures
are `input_uncached_tokens`, `input_cached_tokens`, `input_cache_write_tokens`. A cost's `line_item` is
"<model>, <kind>" in real exports ("gpt-4.1-2025-04-14, cached input"); `amount.value` is USD.
"""

from __future__ import annotations

from otel_llmcost.reports.exports.lines import DISCOUNT, OTHER, BilledLine, usd, utc_day

PROVIDER = "openai"
_USAGE_KINDS = (("input", "input_uncached_tokens"), ("cache_read", "input_cached_tokens"),
                ("cache_write", "input_cache_write_tokens"), ("output", "output_tokens"))
#: a line item's suffix -> our kind ("cached input" is tested before "input")
_LINE_ITEM_KINDS = (("cached input", "cache_read"), ("cache write", "cache_write"), ("input", "input"),
                    ("output", "output"))


def is_usage(document: dict) -> bool:
    return _result_object(document).startswith("organization.usage.")


def is_costs(document: dict) -> bool:
    return _result_object(document) == "organization.costs.result"


def read_usage(document: dict) -> list[BilledLine]:
    lines = []
    for bucket in document["data"]:
        day = utc_day(bucket["start_time"])
        for result in bucket["results"]:
            discount = _discount(result)
            for kind, field in _USAGE_KINDS:
                if field == "input_uncached_tokens" and field not in result:  # older pages: derive it
                    tokens = result.get("input_tokens", 0) - result.get("input_cached_tokens", 0) - result.get(
                        "input_cache_write_tokens", 0)
                else:
                    tokens = result.get(field) or 0
                lines.append(BilledLine("openai-usage", day, PROVIDER, result.get("model") or "", kind,
                                        int(tokens), None, _account(result), discount))
    return lines


def read_costs(document: dict) -> list[BilledLine]:
    lines = []
    for bucket in document["data"]:
        day = utc_day(bucket["start_time"])
        for result in bucket["results"]:
            amount = result["amount"]
            if str(amount.get("currency", "usd")).lower() != "usd":
                raise ValueError(f"OpenAI cost in {amount['currency']!r}: only USD is reconciled")
            line_item = result.get("line_item") or ""
            model, kind = _line_item(line_item)
            quantity = result.get("quantity")
            tokens = None
            if quantity is not None and result.get("quantity_unit") in ("tokens", "1000_tokens"):
                tokens = int(usd(quantity) * (1000 if result["quantity_unit"] == "1000_tokens" else 1))
            value = usd(amount["value"])
            lines.append(BilledLine("openai-costs", day, PROVIDER, model, DISCOUNT if value < 0 and not model else kind,
                                    tokens, value, _account(result), "batch" if "batch" in line_item.lower() else ""))
    return lines


def _line_item(text: str) -> tuple[str, str]:
    model, _, suffix = text.rpartition(", ")
    suffix = suffix.strip().lower()
    for name, kind in _LINE_ITEM_KINDS:
        if suffix.endswith(name):
            return model.strip(), kind
    return (model or text).strip(), OTHER


def _account(result: dict) -> str:
    return result.get("project_id") or result.get("api_key_id") or ""


def _discount(result: dict) -> str:
    if result.get("batch"):
        return "batch"
    tier = result.get("service_tier") or ""
    return f"service tier {tier}" if tier not in ("", "default", "auto") else ""


def _result_object(document: dict) -> str:
    for bucket in document.get("data") or ():
        for result in bucket.get("results") or ():
            return str(result.get("object", ""))
    return ""
