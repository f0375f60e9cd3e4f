"""Chargeback terms (chargeback.yaml): each tenant's markup or discount and billing currency, and dated
exchange rates, all exact Decimals.

    currencies:              # units of the currency per 1 USD, each from its day (UTC) until the next
      EUR:
        - {from: 2026-11-01, rate: "0.9214"}
        - {from: 2026-11-16, rate: "0.9307"}
    tenants:
      acme: {markup: "0.15", currency: EUR}     # +15 %, billed in euros
      globex: {markup: "-0.05"}                 # a 5 % discount, in USD
      "*": {markup: "0"}                        # every other tenant

Three figures per call, kept apart: list (the provider's list price), effective (after the price book's
contract adjustments: what the calls cost) and billed (effective x (1 + markup), in the tenant's currency at
the rate of the call's day).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from otel_llmcost.config import load_yaml
from otel_llmcost.errors import ConfigError

USD = "USD"
ANY_TENANT = "*"
#: currencies whose minor unit is not the cent (ISO 4217)
MINOR_DIGITS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "HUF": 2, "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3}


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest unit (0.01 for most, 1 for the yen)."""
    return Decimal(1).scaleb(-MINOR_DIGITS.get(currency, 2))


@dataclass(frozen=True)
class Terms:
    markup: Decimal = Decimal(0)  # 0.15 = +15 %, -0.05 = a 5 % discount
    currency: str = USD


@dataclass(frozen=True)
class Chargeback:
    tenants: dict[str, Terms] = field(default_factory=dict)
    rates: dict[str, tuple[tuple[date, ...], tuple[Decimal, ...]]] = field(default_factory=dict)

    def terms(self, tenant: str) -> Terms:
        return self.tenants.get(tenant) or self.tenants.get(ANY_TENANT) or Terms()

    def rate(self, currency: str, day: date) -> Decimal:
        """Units of `currency` per USD on `day` (1 for USD)."""
        if currency == USD:
            return Decimal(1)
        days, rates = self.rates.get(currency, ((), ()))
        index = bisect_right(days, day)
        if not index:
            raise ConfigError(f"no {currency} exchange rate for {day} (the first is from "
                              f"{days[0] if days else 'nowhere: add it under currencies'})")
        return rates[index - 1]


def load_chargeback(path: str | None) -> Chargeback:
    """The terms in `path` (every tenant at list cost in USD when None); ConfigError naming the problem."""
    if not path:
        return Chargeback()
    document = load_yaml(path, "chargeback file") or {}
    if not isinstance(document, dict) or set(document) - {"currencies", "tenants"}:
        raise ConfigError(f"{path}: expected a mapping with 'currencies' and 'tenants'")
    rates = {}
    for currency, entries in (document.get("currencies") or {}).items():
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isupper()):
            raise ConfigError(f"{path}: currencies: {currency!r} is not an ISO 4217 code like EUR")
        dated = sorted((_day(path, currency, entry), _decimal(path, f"{currency} rate", _field(entry, "rate", path)))
                       for entry in entries or ())
        if any(rate <= 0 for _, rate in dated) or len({day for day, _ in dated}) != len(dated):
            raise ConfigError(f"{path}: {currency}: rates must be positive, one per day")
        rates[currency] = (tuple(day for day, _ in dated), tuple(rate for _, rate in dated))
    tenants = {}
    for tenant, terms in (document.get("tenants") or {}).items():
        terms = terms or {}
        markup = _decimal(path, f"tenant {tenant} markup", terms.get("markup", "0"))
        currency = str(terms.get("currency", USD))
        if markup <= -1:
            raise ConfigError(f"{path}: tenant {tenant}: a markup of {markup} would bill nothing or less")
        if currency != USD and currency not in rates:
            raise ConfigError(f"{path}: tenant {tenant}: no exchange rates for {currency} under currencies")
        tenants[str(tenant)] = Terms(markup, currency)
    return Chargeback(tenants, rates)


def _field(entry: Any, name: str, path: str) -> Any:
    if not isinstance(entry, dict) or name not in entry:
        raise ConfigError(f"{path}: each rate needs 'from' and 'rate': {entry!r}")
    return entry[name]


def _day(path: str, currency: str, entry: Any) -> date:
    value = _field(entry, "from", path)
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{path}: {currency}: 'from' {value!r} is not a date (YYYY-MM-DD)") from None


def _decimal(path: str, what: str, value: Any) -> Decimal:
    if isinstance(value, float):  # YAML 0.92 is a float: money is written as a string
        raise ConfigError(f"{path}: {what} {value!r}: write it as a string (\"{value}\") to keep it exact")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{path}: {what} {value!r} is not a number") from None
