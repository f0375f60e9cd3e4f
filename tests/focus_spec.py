"""FOCUS 1.3 Cost and Usage: the columns, types, nulls, allowed values and cross-column rules, written from
the specification (FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec, columns at v1.2 plus the 1.3 migration
appendix; summarised in ../shared/reference/finops-formats.md section 1) independently of our exporter, so
that the export is checked against the standard, not against itself. CSV: an empty cell is a null."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

# column -> (type, nulls allowed). Mandatory in 1.3 (ProviderName/PublisherName: deprecated in 1.3, still
# defined; a generator SHOULD ship them beside ServiceProviderName/HostProviderName).
MANDATORY = {
    "BilledCost": ("Decimal", False), "BillingAccountId": ("String", False), "BillingAccountName": ("String", True),
    "BillingCurrency": ("String", False), "BillingPeriodEnd": ("DateTime", False),
    "BillingPeriodStart": ("DateTime", False), "ChargeCategory": ("String", False), "ChargeClass": ("String", True),
    "ChargeDescription": ("String", True), "ChargePeriodEnd": ("DateTime", False),
    "ChargePeriodStart": ("DateTime", False), "ContractedCost": ("Decimal", False),
    "EffectiveCost": ("Decimal", False), "HostProviderName": ("String", False),
    "InvoiceIssuerName": ("String", False), "ListCost": ("Decimal", False), "PricingQuantity": ("Decimal", True),
    "PricingUnit": ("String", True), "ServiceCategory": ("String", False), "ServiceName": ("String", False),
    "ServiceProviderName": ("String", False),
}
DEPRECATED = {"ProviderName": ("String", False), "PublisherName": ("String", False)}
# Conditional and recommended columns that may appear, with their types.
OPTIONAL = {
    "AvailabilityZone": ("String", True), "BillingAccountType": ("String", False),
    "ChargeFrequency": ("String", False), "CommitmentDiscountCategory": ("String", True),
    "CommitmentDiscountId": ("String", True), "ConsumedQuantity": ("Decimal", True), "ConsumedUnit": ("String", True),
    "ContractedUnitPrice": ("Decimal", True), "InvoiceId": ("String", True), "ListUnitPrice": ("Decimal", True),
    "PricingCategory": ("String", True), "RegionId": ("String", True), "RegionName": ("String", True),
    "ResourceId": ("String", True), "ResourceName": ("String", True), "ResourceType": ("String", True),
    "ServiceSubcategory": ("String", False), "SkuId": ("String", True), "SkuMeter": ("String", True),
    "SkuPriceDetails": ("JSON", True), "SkuPriceId": ("String", True), "SubAccountId": ("String", True),
    "SubAccountName": ("String", True), "SubAccountType": ("String", True), "Tags": ("JSON", True),
}
ALLOWED = {
    "ChargeCategory": {"Usage", "Purchase", "Tax", "Credit", "Adjustment"},
    "ChargeClass": {"Correction", None},
    "ChargeFrequency": {"One-Time", "Recurring", "Usage-Based"},
    "PricingCategory": {"Standard", "Committed", "Dynamic", "Other", None},
    "ServiceCategory": {"AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
                        "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
                        "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security",
                        "Storage", "Web", "Other"},
}
AI_SUBCATEGORIES = {"AI Platforms", "Bots", "Generative AI", "Machine Learning", "Natural Language Processing",
                    "Other (AI and Machine Learning)"}
CURRENCIES = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "INR", "CNY", "SEK", "NOK", "DKK", "BRL"}
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_NUMBER = re.compile(r"^-?(\d+(\.\d+)?|\.\d+)([eE][-+]?\d+)?$")
_UNIT = re.compile(r"^(\d+ )?[A-Z][A-Za-z]*( [A-Za-z]+)*$")  # Unit Format: "<count> <plural unit>" or a unit
KNOWN = MANDATORY | DEPRECATED | OPTIONAL
_PERIODS = ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd")


def violations(header: list[str], rows: list[dict]) -> list[str]:
    """Every rule the dataset breaks, as readable lines ([] when it conforms)."""
    found = [f"missing mandatory column {name}" for name in {**MANDATORY, **DEPRECATED} if name not in header]
    custom = [name for name in header if name not in KNOWN]
    found += [f"custom column {name} is not prefixed x_" for name in custom if not name.startswith("x_")]
    last_focus = max((i for i, name in enumerate(header) if name in KNOWN), default=-1)
    found += [f"custom column {name} before a FOCUS column" for i, name in enumerate(header)
              if name.startswith("x_") and i < last_focus]
    for number, raw in enumerate(rows, 1):
        row = {name: (None if value == "" else value) for name, value in raw.items()}
        found += [f"row {number}: {problem}" for problem in _row_violations(row)]
    return found


def _row_violations(row: dict) -> list[str]:
    problems = []
    for name, (kind, nullable) in KNOWN.items():
        if name not in row:
            continue
        value = row[name]
        if value is None:
            if not nullable:
                problems.append(f"{name} is null")
            continue
        if kind == "Decimal" and not _NUMBER.match(value):
            problems.append(f"{name} {value!r} is not a plain number")
        elif kind == "DateTime" and not _DATETIME.match(value):
            problems.append(f"{name} {value!r} is not YYYY-MM-DDTHH:mm:ssZ")
        elif kind == "JSON":
            problems += _key_values(name, value)
        elif kind == "String" and value != value.strip():
            problems.append(f"{name} {value!r} has surrounding blanks")
    for name, allowed in ALLOWED.items():
        if name in row and row[name] not in allowed:
            problems.append(f"{name} {row[name]!r} not allowed")
    if row.get("ServiceCategory") == "AI and Machine Learning" and row.get("ServiceSubcategory") is not None \
            and row["ServiceSubcategory"] not in AI_SUBCATEGORIES:
        problems.append(f"ServiceSubcategory {row['ServiceSubcategory']!r} is not of AI and Machine Learning")
    if row.get("BillingCurrency") not in CURRENCIES:
        problems.append(f"BillingCurrency {row.get('BillingCurrency')!r} is not an ISO 4217 currency")
    problems += _period_violations(row)
    problems += _quantity_violations(row)
    if (row.get("SkuPriceId") is None) != (row.get("SkuPriceDetails") is None) and "SkuPriceDetails" in row:
        problems.append("SkuPriceDetails must be null exactly when SkuPriceId is")
    if row.get("SkuPriceId") is not None and row.get("SkuId") is None:
        problems.append("SkuPriceId without SkuId")
    if row.get("SkuPriceDetails"):
        problems += [f"SkuPriceDetails key {key!r} is neither FOCUS-defined nor x_" for key in
                     json.loads(row["SkuPriceDetails"]) if not key.startswith("x_")]
    if row.get("ChargeCategory") == "Credit" and row.get("EffectiveCost") != row.get("BilledCost"):
        problems.append("a Credit's EffectiveCost must equal its BilledCost")
    return problems


def _period_violations(row: dict) -> list[str]:
    if not all(_DATETIME.match(row.get(name) or "") for name in _PERIODS):
        return []  # a missing or malformed time is reported as such
    charge = [datetime.fromisoformat(row[n].replace("Z", "+00:00")) for n in ("ChargePeriodStart", "ChargePeriodEnd")]
    billing = [datetime.fromisoformat(row[n].replace("Z", "+00:00")) for n in ("BillingPeriodStart", "BillingPeriodEnd")]
    problems = []
    if not charge[0] < charge[1]:
        problems.append("ChargePeriodEnd (exclusive) is not after ChargePeriodStart")
    if not (billing[0] <= charge[0] and charge[1] <= billing[1]):
        problems.append("the charge period is outside the billing period")
    if billing[0].day != 1 or billing[1].day != 1 or billing[0].time() != billing[1].time():
        problems.append("the billing period is not a month")
    return problems


def _quantity_violations(row: dict) -> list[str]:
    problems = []
    for quantity, unit in (("ConsumedQuantity", "ConsumedUnit"), ("PricingQuantity", "PricingUnit")):
        if quantity in row and (row[quantity] is None) != (row.get(unit) is None):
            problems.append(f"{unit} must be null exactly when {quantity} is")
        if row.get(unit) is not None and not _UNIT.match(row[unit]):
            problems.append(f"{unit} {row[unit]!r} does not follow the Unit Format")
    if row.get("ChargeCategory") != "Usage" and row.get("ConsumedQuantity") is not None:
        problems.append("ConsumedQuantity on a row that is not Usage")
    if row.get("ChargeCategory") in ("Usage", "Purchase") and row.get("ChargeClass") is None \
            and row.get("PricingQuantity") is None:
        problems.append("PricingQuantity is null on a Usage or Purchase row")
    for price, cost in (("ListUnitPrice", "ListCost"), ("ContractedUnitPrice", "ContractedCost")):
        if row.get(price) is not None and row.get("ChargeClass") != "Correction":
            try:
                if Decimal(row[price]) * Decimal(row["PricingQuantity"]) != Decimal(row[cost]):
                    problems.append(f"{price} x PricingQuantity != {cost}")
            except (InvalidOperation, TypeError):
                pass
    return problems


def _key_values(name: str, text: str) -> list[str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return [f"{name} is not JSON"]
    if not isinstance(value, dict):
        return [f"{name} is not a JSON object"]
    return [f"{name}[{key!r}] is not a string, number, boolean or null" for key, item in value.items()
            if isinstance(item, (dict, list))]
