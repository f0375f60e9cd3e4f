"""Google Cloud's billing export to BigQuery (standard usage cost table), as newline-delimited JSON
(`bq extract --destination_format NEWLINE_DELIMITED_JSON`), Vertex AI and Gemini API rows.

Fields from docs.cloud.google.com/billing/docs/how-to/export-data-bigquery-tables (standard usage cost data
schema, as of 2026-11): `service.description`, `sku.description`, `usage_start_time`, `project.id`, `cost`,
`currency`, `usage.amount`, `usage.unit`, `credits[]` (negative amounts). The model and the kind are in the
SKU's description: "Gemini 2.5 Flash GA Text Input - Predictions", "... Text Output - Predictions",
"... Thinking Text Output - Predictions", "... Input Text Caching - Predictions".
"""

from __future__ import annotations

import re

from otel_llmcost.reports.exports.lines import DISCOUNT, OTHER, BilledLine, usd, utc_day

_SERVICES = {"vertex ai": "gcp.vertex_ai", "gemini api": "gcp.gemini"}
#: SKU text -> kind, in order (caching before input, output after thinking)
_KINDS = ((re.compile(r"\s(?:input\s+)?(?:text\s+)?caching\b(?!\s+storage)", re.IGNORECASE), "cache_read"),
          (re.compile(r"\scached input", re.IGNORECASE), "cache_read"),
          (re.compile(r"\s(?:thinking\s+)?(?:text\s+)?output\b", re.IGNORECASE), "output"),
          (re.compile(r"\s(?:text\s+)?input\b", re.IGNORECASE), "input"))
_NOISE = re.compile(r"\b(GA|Global|Regional|Preview|Thinking|Text|Short|Long|Predictions?)\b|\s-\s.*$", re.IGNORECASE)


def is_billing_row(row: dict) -> bool:
    return isinstance(row.get("sku"), dict) and isinstance(row.get("service"), dict) and "cost" in row


def read(rows: list[dict]) -> list[BilledLine]:
    lines = []
    for row in rows:
        provider = _SERVICES.get(str(row["service"].get("description", "")).lower())
        if provider is None:
            continue
        if row.get("currency", "USD") != "USD":
            raise ValueError(f"billing row in {row['currency']!r}: only USD is reconciled")
        day = utc_day(row["usage_start_time"])
        sku = str(row["sku"].get("description", ""))
        kind, model = OTHER, sku
        for pattern, name in _KINDS:
            found = pattern.search(sku)
            if found:
                kind, model = name, sku[: found.start()]
                break
        model = _NOISE.sub(" ", model).strip()
        account = (row.get("project") or {}).get("id", "")
        usage = row.get("usage") or {}
        tokens = int(usd(usage.get("amount", 0))) if kind != OTHER else None
        lines.append(BilledLine("gcp-billing", day, provider, model, kind, tokens, usd(row["cost"]), account))
        for credit in row.get("credits") or ():
            lines.append(BilledLine("gcp-billing", day, provider, model, DISCOUNT, None, usd(credit["amount"]),
                                    account, f"credit {credit.get('type') or credit.get('name') or ''}".strip()))
    return lines
