"""`otel-llmcost statement`: a tenant's month, one row per UTC day, project, feature, provider and model, with
the list, effective and billed figures (reports/chargeback.py) apart.

Each row's billed amount is effective x (1 + markup) x the day's exchange rate, rounded half up to the
currency's minor unit; the statement's billed total is the sum of those rounded rows, so the total is what
the rows add up to, to the cent. List and effective stay exact USD.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from otel_llmcost.reports.billed_kinds import BILLED_KINDS, TOKEN_KINDS
from otel_llmcost.reports.chargeback import Chargeback, minor_unit
from otel_llmcost.reports.finops_sql import focus_usage
from otel_llmcost.reports.focus import Month
from otel_llmcost.reports.queries import sql_time


@dataclass(frozen=True)
class StatementLine:
    day: date
    project: str
    feature: str
    provider: str
    model: str
    calls: int
    unpriced_calls: int
    tokens: int
    list_usd: Decimal
    effective_usd: Decimal
    billed_usd: Decimal  # effective after the markup, exact, in USD
    rate: Decimal  # currency units per USD on the day
    billed: Decimal  # in the statement's currency, rounded to its minor unit


@dataclass(frozen=True)
class Statement:
    tenant: str
    month: Month
    currency: str
    markup: Decimal
    lines: tuple[StatementLine, ...]

    @property
    def list_usd(self) -> Decimal:
        return sum((line.list_usd for line in self.lines), Decimal(0))

    @property
    def effective_usd(self) -> Decimal:
        return sum((line.effective_usd for line in self.lines), Decimal(0))

    @property
    def billed(self) -> Decimal:
        return sum((line.billed for line in self.lines), Decimal(0)).quantize(minor_unit(self.currency))

    def as_document(self) -> dict:
        return {"tenant": self.tenant, "month": self.month.start.strftime("%Y-%m"), "currency": self.currency,
                "markup": _text(self.markup), "list_usd": _text(self.list_usd),
                "effective_usd": _text(self.effective_usd), "billed": _text(self.billed),
                "lines": [_line_document(line) for line in self.lines]}

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=LINE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(_line_document(line) for line in self.lines)
        writer.writerow({"day": "TOTAL", "list_usd": _text(self.list_usd),
                         "effective_usd": _text(self.effective_usd), "billed": _text(self.billed)})
        return out.getvalue()


def statement(store, chargeback: Chargeback, tenant: str, month: Month) -> Statement:
    terms = chargeback.terms(tenant)
    since, until = month.bounds()
    found = store.query(focus_usage(store.database), {"since": sql_time(since), "until": sql_time(until),
                                                      "tenant": tenant})
    sums: dict[tuple, list] = {}
    for row in found:
        key = (row["day"], row["project"], row["feature"], row["provider"], row["model"])
        line = sums.setdefault(key, [0, 0, 0, Decimal(0), Decimal(0)])
        effective = sum((Decimal(row[f"{kind.name}_usd"]) for kind in BILLED_KINDS), Decimal(0))
        line[0] += int(row["calls"])
        line[1] += int(row["unpriced_calls"])
        line[2] += sum(int(row[f"{kind}_quantity"]) for kind in TOKEN_KINDS)
        line[3] += effective / (Decimal(row["multiplier"]) or Decimal(1))
        line[4] += effective
    lines = []
    for (day_text, project, feature, provider, model), (calls, unpriced, tokens, list_usd, effective) in sorted(
            sums.items()):
        day = date.fromisoformat(day_text)
        billed_usd = effective * (1 + terms.markup)
        rate = chargeback.rate(terms.currency, day)
        billed = (billed_usd * rate).quantize(minor_unit(terms.currency), rounding=ROUND_HALF_UP)
        lines.append(StatementLine(day, project, feature, provider, model, calls, unpriced, tokens, list_usd,
                                   effective, billed_usd, rate, billed))
    return Statement(tenant, month, terms.currency, terms.markup, tuple(lines))


LINE_COLUMNS = ("day", "project", "feature", "provider", "model", "calls", "unpriced_calls", "tokens", "list_usd",
                "effective_usd", "billed_usd", "rate", "billed")


def _line_document(line: StatementLine) -> dict:
    return {"day": line.day.isoformat(), "project": line.project, "feature": line.feature, "provider": line.provider,
            "model": line.model,
            "calls": line.calls, "unpriced_calls": line.unpriced_calls, "tokens": line.tokens,
            "list_usd": _text(line.list_usd), "effective_usd": _text(line.effective_usd),
            "billed_usd": _text(line.billed_usd), "rate": _text(line.rate), "billed": _text(line.billed)}


def _text(amount: Decimal) -> str:
    return format(amount, "f")
