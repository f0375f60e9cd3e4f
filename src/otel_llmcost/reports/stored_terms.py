"""Chargeback terms in the store (migration 013: tenant_terms, exchange_rates), so what reads them there (the
dashboards' billed cost) follows a change of terms without a rebuild.

`serve` writes the terms of its chargeback file (chargeback.file) when it starts, before it stores anything
(`store_terms`; a change of terms takes effect at the next start, with no dashboard rebuild): the whole set as
a new version, a `*` row always among them (the terms of every tenant not named), so the newest version of
tenant_terms is the set in force and its exchange rates those of the same version. `stored_terms` reads that
set back as a Chargeback.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from otel_llmcost.reports.chargeback import ANY_TENANT, Chargeback, Terms

#: The version in force: the newest write (SQL, over {database}).
CURRENT_VERSION = "(SELECT max(version) FROM {database}.tenant_terms)"

_INSERT_TERMS = """
INSERT INTO {database}.tenant_terms (version, tenant_id, markup, currency)
SELECT {version:DateTime64(3, 'UTC')}, t.1, toDecimal128(t.2, 12), t.3
FROM (SELECT arrayJoin(arrayZip({tenants:Array(String)}, {markups:Array(String)}, {currencies:Array(String)})) AS t)
"""
_INSERT_RATES = """
INSERT INTO {database}.exchange_rates (version, currency, from_day, rate)
SELECT {version:DateTime64(3, 'UTC')}, r.1, toDate(r.2), toDecimal128(r.3, 12)
FROM (SELECT arrayJoin(arrayZip({currencies:Array(String)}, {days:Array(String)}, {rates:Array(String)})) AS r)
"""
_READ_TERMS = ("SELECT tenant_id, toString(markup) AS markup, currency FROM {database}.tenant_terms "
               "WHERE version = " + CURRENT_VERSION)
_READ_RATES = ("SELECT currency, toString(from_day) AS from_day, toString(rate) AS rate FROM {database}.exchange_rates "
               "WHERE version = " + CURRENT_VERSION + " ORDER BY currency, from_day")


def complete(chargeback: Chargeback) -> Chargeback:
    """The terms with their `*` row written out (what the store keeps)."""
    return Chargeback({**chargeback.tenants, ANY_TENANT: chargeback.terms(ANY_TENANT)}, chargeback.rates)


def stored_terms(store: Any) -> Chargeback | None:
    """The terms in force in the store; None when none were ever stored."""
    database = store.database
    tenants = store.query(_READ_TERMS.replace("{database}", database))
    if not tenants:
        return None
    rates: dict[str, tuple[list[date], list[Decimal]]] = {}
    for row in store.query(_READ_RATES.replace("{database}", database)):
        days, values = rates.setdefault(row["currency"], ([], []))
        days.append(date.fromisoformat(row["from_day"]))
        values.append(Decimal(row["rate"]))
    return Chargeback({row["tenant_id"]: Terms(Decimal(row["markup"]), row["currency"]) for row in tenants},
                      {currency: (tuple(days), tuple(values)) for currency, (days, values) in rates.items()})


def store_terms(store: Any, chargeback: Chargeback) -> bool:
    """Write the terms as the new version unless they are the ones in force; True when written."""
    terms = complete(chargeback)
    if stored_terms(store) == terms:
        return False
    version = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    named = sorted(terms.tenants.items())
    dated = [(currency, day, rate) for currency, (days, values) in sorted(terms.rates.items())
             for day, rate in zip(days, values, strict=True)]
    # the rates first: the tenants' row makes the version the one in force
    store.command(_INSERT_RATES.replace("{database}", store.database), {
        "version": version, "currencies": [c for c, _, _ in dated], "days": [d.isoformat() for _, d, _ in dated],
        "rates": [str(r) for _, _, r in dated]})
    store.command(_INSERT_TERMS.replace("{database}", store.database), {
        "version": version, "tenants": [t for t, _ in named], "markups": [str(x.markup) for _, x in named],
        "currencies": [x.currency for _, x in named]})
    return True
