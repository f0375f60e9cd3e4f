"""The alert settings file (alerts.yaml): budgets per tenant, the anomaly factor and floor, the webhook.

The receiver validates it at startup (Settings `alerts.file`), `otel-llmcost anomalies` and `budgets` read
it, and `otel-llmcost grafana-alerts` renders Grafana's alert rules from it: one file, one set of numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from otel_llmcost.alerts.budgets import Budget, parse_budget
from otel_llmcost.config import load_yaml
from otel_llmcost.errors import ConfigError

#: Environment variable naming the webhook when the file does not (Grafana's contact point reads it too).
WEBHOOK_ENV = "LLMCOST_ALERT_WEBHOOK_URL"


@dataclass(frozen=True)
class AlertRules:
    factor: float = 3.0  #: today's spend over the trailing daily average that counts as an anomaly
    min_usd: Decimal = Decimal("1")  #: smaller amounts never fire, whatever the factor
    baseline_days: int = 7  #: the trailing days averaged
    silence_minutes: int = 60  #: no new calls for this long means the spend feed went silent
    thresholds: tuple[int, ...] = (80, 90, 100)  #: budget percentages, each notified once per month
    budgets: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))  #: USD per month
    #: budgets of a tenant's feature or user, or of a tenant's day (alerts/budgets.py)
    scoped_budgets: tuple[Budget, ...] = ()
    webhook: str = ""

    @property
    def webhook_url(self) -> str:
        return self.webhook or os.environ.get(WEBHOOK_ENV, "")


_KEYS = {"anomaly": ("factor", "min_usd", "baseline_days"), "silence_minutes": (), "budget_thresholds": (),
         "budgets": (), "webhook": ()}


def load_alert_rules(path: str | None) -> AlertRules:
    """The file's rules (defaults without a file); ConfigError listing every problem."""
    if not path:
        return AlertRules()
    document = load_yaml(path, "alerts file") or {}
    errors: list[str] = []
    rules = _parse(document, errors)
    if errors:
        raise ConfigError(f"invalid alerts file {path}: " + "; ".join(errors))
    return rules


def _parse(document: Any, errors: list[str]) -> AlertRules:
    if not isinstance(document, dict):
        errors.append("the top level must be a mapping")
        return AlertRules()
    errors.extend(f"unknown key {key}" for key in document if key not in _KEYS)
    anomaly = document.get("anomaly") or {}
    if not isinstance(anomaly, dict):
        errors.append("anomaly must be a mapping")
        anomaly = {}
    errors.extend(f"unknown key anomaly.{key}" for key in anomaly if key not in _KEYS["anomaly"])
    defaults = AlertRules()
    factor = anomaly.get("factor", defaults.factor)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 1:
        errors.append(f"anomaly.factor must be a number above 1, got {factor!r}")
        factor = defaults.factor
    thresholds = document.get("budget_thresholds", list(defaults.thresholds))
    if not (isinstance(thresholds, list) and thresholds and all(_positive_int(t) for t in thresholds)):
        errors.append(f"budget_thresholds must be a list of whole percentages, got {thresholds!r}")
        thresholds = list(defaults.thresholds)
    budgets = document.get("budgets") or {}
    scoped: list[Budget] = []
    if isinstance(budgets, list):
        budgets, scoped = _budget_list(budgets, errors)
    elif not isinstance(budgets, dict):
        errors.append("budgets must map a tenant to its monthly budget in USD, or list budgets")
        budgets = {}
    webhook = document.get("webhook") or ""
    if not isinstance(webhook, str) or webhook and not webhook.startswith(("http://", "https://")):
        errors.append(f"webhook must be an http:// or https:// URL, got {webhook!r}")
        webhook = ""
    return AlertRules(
        factor=float(factor),
        min_usd=_usd(anomaly.get("min_usd", defaults.min_usd), "anomaly.min_usd", errors),
        baseline_days=_count(anomaly.get("baseline_days", defaults.baseline_days), "anomaly.baseline_days", errors),
        silence_minutes=_count(document.get("silence_minutes", defaults.silence_minutes), "silence_minutes", errors),
        thresholds=tuple(sorted(set(thresholds))),
        budgets=MappingProxyType({str(tenant): _usd(usd, f"budgets.{tenant}", errors)
                                  for tenant, usd in budgets.items()}),
        scoped_budgets=tuple(scoped),
        webhook=webhook,
    )


def _budget_list(entries: list, errors: list[str]) -> tuple[dict[str, Decimal], list[Budget]]:
    """The list form of `budgets`: tenants' months apart (the tenants dashboard and its rule read them), the
    rest scoped."""
    months: dict[str, Decimal] = {}
    scoped = []
    for number, entry in enumerate(entries):
        budget = parse_budget(entry, f"budgets[{number}]", errors, _usd)
        if budget is None:
            continue
        if budget.level == "tenant" and budget.period == "monthly":
            if budget.tenant in months:
                errors.append(f"budgets[{number}]: a second monthly budget for tenant {budget.tenant}")
            months[budget.tenant] = budget.usd
        else:
            scoped.append(budget)
    return months, scoped


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _count(value: Any, where: str, errors: list[str]) -> int:
    if not _positive_int(value):
        errors.append(f"{where} must be a whole number above 0, got {value!r}")
        return 1
    return value


def _usd(value: Any, where: str, errors: list[str]) -> Decimal:
    """Money from YAML: a string or an integer ("12.50" or 12); floats are refused (they are not exact). A
    Decimal is a default's, or a list budget's already read."""
    try:
        amount = Decimal(value) if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool) else None
        if amount is not None and amount.is_finite() and amount >= 0:
            return amount
    except InvalidOperation:
        pass
    errors.append(f"{where} must be an amount in USD, as a string like \"12.50\" or a whole number, got {value!r}")
    return Decimal(0)
