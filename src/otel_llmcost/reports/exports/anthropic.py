"""Anthropic's Admin API usage report (`/v1/organizations/usage_report/messages`) and cost report
(`/v1/organizations/cost_report`).

Shapes from platform.claude.com/docs/en/api/admin (usage_report, cost_report) and Anthropic's cookbook
`observability/usage_cost_api.ipynb`, as of 2026-11. Usage input kinds are disjoint; cache writes are nested
under `cache_creation` (5-minute and 1-hour). A cost's `amount` is a decimal string in cents ("123.45" is
$1.2345); `model` and `token_type` are set when the report is grouped by description.
"""

from __future__ import annotations

from decimal import Decimal

from otel_llmcost.reports.exports.lines import DISCOUNT, OTHER, BilledLine, usd, utc_day

PROVIDER = "anthropic"
_TOKEN_TYPES = {"uncached_input_tokens": "input", "cache_read_input_tokens": "cache_read",
                "cache_creation.ephemeral_5m_input_tokens": "cache_write",
                "cache_creation.ephemeral_1h_input_tokens": "cache_write", "output_tokens": "output"}
_CENTS = Decimal(100)


def is_usage(document: dict) -> bool:
    return "uncached_input_tokens" in _first_result(document)


def is_costs(document: dict) -> bool:
    result = _first_result(document)
    return "amount" in result and "cost_type" in result


def read_usage(document: dict) -> list[BilledLine]:
    lines = []
    for bucket in document["data"]:
        day = utc_day(bucket["starting_at"])
        for result in bucket["results"]:
            writes = result.get("cache_creation") or {}
            counts = {"input": result.get("uncached_input_tokens") or 0,
                      "cache_read": result.get("cache_read_input_tokens") or 0,
                      "cache_write": (writes.get("ephemeral_5m_input_tokens") or 0)
                      + (writes.get("ephemeral_1h_input_tokens") or 0),
                      "output": result.get("output_tokens") or 0}
            searches = (result.get("server_tool_use") or {}).get("web_search_requests") or 0
            account, discount = _account(result), _discount(result)
            for kind, tokens in counts.items():
                lines.append(BilledLine("anthropic-usage", day, PROVIDER, result.get("model") or "", kind,
                                        int(tokens), None, account, discount))
            if searches:
                lines.append(BilledLine("anthropic-usage", day, PROVIDER, result.get("model") or "", "web_search",
                                        int(searches), None, account, discount))
    return lines


def read_costs(document: dict) -> list[BilledLine]:
    lines = []
    for bucket in document["data"]:
        day = utc_day(bucket["starting_at"])
        for result in bucket["results"]:
            if str(result.get("currency", "USD")).upper() != "USD":
                raise ValueError(f"Anthropic cost in {result['currency']!r}: only USD is reconciled")
            cost = usd(result["amount"]) / _CENTS
            if result.get("cost_type") == "web_search":
                kind = "web_search"
            elif result.get("cost_type") == "tokens":
                kind = _TOKEN_TYPES.get(result.get("token_type") or "", OTHER)
            else:
                kind = DISCOUNT if cost < 0 else OTHER
            lines.append(BilledLine("anthropic-costs", day, PROVIDER, result.get("model") or "", kind, None, cost,
                                    result.get("workspace_id") or "", _discount(result)))
    return lines


def _account(result: dict) -> str:
    return result.get("workspace_id") or result.get("api_key_id") or ""


def _discount(result: dict) -> str:
    tier = result.get("service_tier") or ""
    return "batch" if tier == "batch" else (f"service tier {tier}" if tier not in ("", "standard") else "")


def _first_result(document: dict) -> dict:
    for bucket in document.get("data") or ():
        for result in bucket.get("results") or ():
            return result
    return {}
