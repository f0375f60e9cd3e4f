"""`otel-llmcost export focus`: a month of stored calls as a FOCUS 1.3 Cost and Usage dataset.

One row per UTC day x tenant x environment x project x feature x provider x model x billed kind (environment,
project and feature are in the grain so that each row's Tags are true of all of it; a call without a project
has no project tag). The columns follow FOCUS 1.3 (ratified
2025-12-04): every mandatory column, the conditional ones this data supports (consumed quantity and unit,
SKU, sub account = tenant, tags), and both provider pairs (ProviderName/PublisherName, deprecated in 1.3,
and ServiceProviderName/HostProviderName) as the 1.3 migration guidance asks of generators. Our own
figures follow, prefixed x_. Costs are exact Decimals: ListCost is the price book's list price, before a
contract adjustment; ContractedCost, EffectiveCost and BilledCost are what the calls cost after it (the
provider's invoice as we price it; a tenant's markup is a chargeback figure of `statement`, not FOCUS's).
Unit prices are left null: a day's cost sums per-call costs of tiers and price changes, so no single unit
price times the quantity would equal it (the rule of PricingQuantity). Unpriced calls cost 0 here (FOCUS
costs are never null) and are counted in x_UnpricedCalls.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from otel_llmcost import __version__
from otel_llmcost.reports.billed_kinds import BILLED_KINDS
from otel_llmcost.reports.finops_sql import focus_usage
from otel_llmcost.reports.queries import sql_time

FOCUS_VERSION = "1.3"
#: our provider -> (ServiceName, the company: ServiceProviderName = HostProviderName = InvoiceIssuerName)
SERVICES = {
    "openai": ("OpenAI API", "OpenAI"), "anthropic": ("Claude API", "Anthropic"),
    "aws.bedrock": ("Amazon Bedrock", "Amazon Web Services"), "gcp.vertex_ai": ("Vertex AI", "Google Cloud"),
    "gcp.gen_ai": ("Vertex AI", "Google Cloud"), "gcp.gemini": ("Gemini API", "Google"),
    "azure.ai.openai": ("Azure OpenAI", "Microsoft"), "azure.ai.inference": ("Azure AI Foundry", "Microsoft"),
    "mistral_ai": ("Mistral AI API", "Mistral AI"), "cohere": ("Cohere API", "Cohere"),
    "deepseek": ("DeepSeek API", "DeepSeek"), "x_ai": ("xAI API", "xAI"), "groq": ("GroqCloud", "Groq"),
    "together_ai": ("Together AI", "Together AI"), "perplexity": ("Perplexity API", "Perplexity"),
}
#: (column, ClickHouse type for Parquet), in output order: FOCUS columns, then ours
COLUMNS: tuple[tuple[str, str], ...] = (
    ("BilledCost", "Decimal(38, 12)"), ("BillingAccountId", "String"), ("BillingAccountName", "Nullable(String)"),
    ("BillingCurrency", "String"), ("BillingPeriodEnd", "DateTime('UTC')"), ("BillingPeriodStart", "DateTime('UTC')"),
    ("ChargeCategory", "String"), ("ChargeClass", "Nullable(String)"), ("ChargeDescription", "Nullable(String)"),
    ("ChargeFrequency", "String"), ("ChargePeriodEnd", "DateTime('UTC')"), ("ChargePeriodStart", "DateTime('UTC')"),
    ("ConsumedQuantity", "Nullable(Decimal(38, 12))"), ("ConsumedUnit", "Nullable(String)"),
    ("ContractedCost", "Decimal(38, 12)"), ("ContractedUnitPrice", "Nullable(Decimal(38, 12))"),
    ("EffectiveCost", "Decimal(38, 12)"), ("HostProviderName", "String"), ("InvoiceIssuerName", "String"),
    ("ListCost", "Decimal(38, 12)"), ("ListUnitPrice", "Nullable(Decimal(38, 12))"),
    ("PricingCategory", "Nullable(String)"), ("PricingQuantity", "Nullable(Decimal(38, 12))"),
    ("PricingUnit", "Nullable(String)"), ("ProviderName", "String"), ("PublisherName", "String"),
    ("ServiceCategory", "String"), ("ServiceName", "String"), ("ServiceProviderName", "String"),
    ("ServiceSubcategory", "String"), ("SkuId", "Nullable(String)"), ("SkuMeter", "Nullable(String)"),
    ("SkuPriceDetails", "Nullable(String)"), ("SkuPriceId", "Nullable(String)"), ("SubAccountId", "Nullable(String)"),
    ("SubAccountName", "Nullable(String)"), ("SubAccountType", "Nullable(String)"), ("Tags", "Nullable(String)"),
    ("x_Provider", "String"), ("x_Model", "String"), ("x_Calls", "UInt64"), ("x_UnpricedCalls", "UInt64"),
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)


@dataclass(frozen=True)
class Month:
    start: date

    @classmethod
    def parse(cls, text: str) -> Month:
        try:
            moment = datetime.strptime(text.strip(), "%Y-%m")
        except ValueError:
            raise ValueError(f"--month {text!r}: expected YYYY-MM") from None
        return cls(moment.date())

    @property
    def end(self) -> date:
        return (self.start + timedelta(days=32)).replace(day=1)

    def bounds(self) -> tuple[datetime, datetime]:
        return _midnight(self.start), _midnight(self.end)


def focus_rows(store, month: Month, tenant: str = "") -> list[dict]:
    """The month's FOCUS rows (values as FOCUS text: Decimals as plain numbers, times as ISO 8601 with Z,
    None for null)."""
    since, until = month.bounds()
    found = store.query(focus_usage(store.database), {"since": sql_time(since), "until": sql_time(until),
                                                      "tenant": tenant})
    merged: dict[tuple, dict] = {}
    for row in found:
        multiplier = Decimal(row["multiplier"]) or Decimal(1)
        for kind in BILLED_KINDS:
            quantity, cost = int(row[f"{kind.name}_quantity"]), Decimal(row[f"{kind.name}_usd"])
            if not quantity and not cost:
                continue
            key = (row["day"], row["tenant"], row["environment"], row["project"], row["feature"], row["provider"],
                   row["model"], kind.name)
            line = merged.setdefault(key, {"kind": kind, "quantity": 0, "cost": Decimal(0), "list": Decimal(0),
                                           "calls": 0, "unpriced": 0})
            line["quantity"] += quantity
            line["cost"] += cost
            line["list"] += cost / multiplier
            line["calls"] += int(row["calls"])
            line["unpriced"] += int(row["unpriced_calls"])
    return [_focus_row(month, key, line) for key, line in merged.items()]


def _focus_row(month: Month, key: tuple, line: dict) -> dict:
    day_text, tenant, environment, project, feature, provider, model, _ = key
    kind = line["kind"]
    day = date.fromisoformat(day_text)
    service, company = SERVICES.get(provider, (provider or "unknown", provider or "unknown"))
    sku = f"{provider or 'unknown'}/{model or 'unknown'}/{kind.name}"
    cost = _exact(line["cost"])
    return {
        "BilledCost": cost, "BillingAccountId": provider or "unknown", "BillingAccountName": company,
        "BillingCurrency": "USD", "BillingPeriodEnd": _time(month.end), "BillingPeriodStart": _time(month.start),
        "ChargeCategory": "Usage", "ChargeClass": None, "ChargeDescription": f"{model or 'unknown'} {kind.meter}",
        "ChargeFrequency": "Usage-Based", "ChargePeriodEnd": _time(day + timedelta(days=1)),
        "ChargePeriodStart": _time(day), "ConsumedQuantity": str(line["quantity"]), "ConsumedUnit": kind.unit,
        "ContractedCost": cost, "ContractedUnitPrice": None, "EffectiveCost": cost, "HostProviderName": company,
        "InvoiceIssuerName": company, "ListCost": _exact(line["list"]), "ListUnitPrice": None,
        "PricingCategory": "Standard", "PricingQuantity": _exact(Decimal(line["quantity"]) / kind.per),
        "PricingUnit": kind.pricing_unit, "ProviderName": company, "PublisherName": company,
        "ServiceCategory": "AI and Machine Learning", "ServiceName": service, "ServiceProviderName": company,
        "ServiceSubcategory": "Generative AI", "SkuId": sku, "SkuMeter": kind.meter,
        "SkuPriceDetails": json.dumps({"x_ModelId": model, "x_BilledKind": kind.name}), "SkuPriceId": sku,
        "SubAccountId": tenant, "SubAccountName": tenant, "SubAccountType": "Tenant",
        "Tags": json.dumps({"tenant": tenant, "feature": feature, "environment": environment}
                           | ({"project": project} if project else {})),
        "x_Provider": provider, "x_Model": model, "x_Calls": str(line["calls"]),
        "x_UnpricedCalls": str(line["unpriced"]),
    }


def to_csv(rows: list[dict]) -> str:
    """CSV with a header; a null is an empty cell (FOCUS defines no other CSV null)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMN_NAMES, lineterminator="\n")
    writer.writeheader()
    writer.writerows({name: "" if value is None else value for name, value in row.items()} for row in rows)
    return out.getvalue()


def metadata(month: Month, tenant: str) -> dict:
    """FOCUS's metadata object (FocusVersion, DataGenerator), written beside the dataset."""
    return {"FocusVersion": FOCUS_VERSION, "DataGenerator": {"DataGenerator": f"otel-llmcost {__version__}"},
            "Schema": {"DatasetName": "CostAndUsage", "BillingPeriod": month.start.strftime("%Y-%m"),
                       "SubAccount": tenant or None, "CreationDate": _time_of(datetime.now(timezone.utc))},
            "ColumnDefinition": [{"ColumnName": name, "DataType": ch_type} for name, ch_type in COLUMNS]}


def _exact(amount: Decimal) -> str:
    text = format(amount.normalize(), "f")
    return text if text != "-0" else "0"


def _time(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _time_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
