"""What every provider export is read into: billed lines of one UTC day, provider, model and kind."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

from otel_llmcost.pricing.models import candidate_names

#: a kind that is no usage: a discount, credit or refund line of the bill (a negative cost)
DISCOUNT = "discount"
#: a kind we do not price per call (fine-tuning, storage, a tool's fee)
OTHER = "other"


@dataclass(frozen=True, slots=True)
class BilledLine:
    """One line of a provider's export. `tokens` is None where the export gives no quantity (a cost report),
    `cost_usd` None where it gives no cost (a usage report): reconciliation sums each where it is known."""

    source: str  # the export's format, e.g. "openai-costs"
    day: date  # UTC
    provider: str  # our provider name (gen_ai.provider.name), e.g. "aws.bedrock"
    model: str  # as the export names it; "" on a line of no model (an account-wide discount)
    kind: str  # a billed kind (reports/billed_kinds.py), DISCOUNT or OTHER
    tokens: int | None
    cost_usd: Decimal | None
    account: str = ""  # project, API key, workspace or account id, where the export has one
    discount: str = ""  # why this line is cheaper than the standard price: "batch", "service tier flex", ...


_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4}|@.*)$")
_BEDROCK_VERSION = re.compile(r"-v\d+(:\d+)?$")
_VENDORS = ("anthropic.", "amazon.", "meta.", "mistral.", "cohere.", "ai21.", "deepseek.", "openai.", "qwen.")


def model_key(model: str) -> str:
    """The name both sides of a reconciliation are matched by: no provider or region prefix, no dated
    snapshot or version suffix, separators as '-' ("us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-sonnet-4-5@20250929", "Claude Sonnet 4.5" and "claude-sonnet-4-5" are one model)."""
    name = candidate_names("", model)[-1] if model else ""
    for vendor in _VENDORS:
        name = name.removeprefix(vendor)
    name = _BEDROCK_VERSION.sub("", name)
    name = re.sub(r"[\s._/]+", "-", name.strip())
    while (stripped := _DATE_SUFFIX.sub("", name)) != name:
        name = stripped
    return name


def utc_day(value: str | float) -> date:
    """The UTC day of a unix time or an ISO 8601 / 'YYYY-MM-DD HH:MM:SS' / 'MM/DD/YYYY' text."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc).date()
    text = value.strip()
    if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):  # Azure's cost details
        month, day, year = (int(part) for part in text.split("/"))
        return date(year, month, day)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" UTC", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.date()


def usd(value) -> Decimal:
    """An amount as an exact Decimal (a JSON number is read from its text, never through a float's value)."""
    return value if isinstance(value, Decimal) else Decimal(str(value).strip() or "0")
