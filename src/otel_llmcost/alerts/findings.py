"""Run the alert queries on a store and word what they find; remember which budget thresholds were sent."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_llmcost.alerts import queries
from otel_llmcost.alerts.rules import AlertRules
from otel_llmcost.store import QueryableStore


@dataclass(frozen=True)
class Finding:
    rule: str  # a key of queries.ALERTS
    labels: dict[str, str]  # what the finding is about, as Grafana labels it
    value: float  # what Grafana's condition compares
    message: str

    @property
    def key(self) -> str:
        return "/".join([self.rule, *self.labels.values()])

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "labels": self.labels, "value": self.value, "message": self.message}


def find(store: QueryableStore, rules: AlertRules) -> list[Finding]:
    """Every rule's findings now, in queries.ALERTS order."""
    params = queries.parameters(rules)
    found = []
    for rule, (sql, label_columns, value_column, template) in queries.ALERTS.items():
        for row in store.query(queries.bind(sql, store.database), params):
            labels = {column: str(row[column]) for column in label_columns}
            values = {**row, "baseline_days": rules.baseline_days, value_column: float(row[value_column])}
            if "history_days" in row:
                values["history_days"] = float(row["history_days"])
            found.append(Finding(rule, labels, float(row[value_column]), template.format(**values)))
    return found


def budget_status(store: QueryableStore, rules: AlertRules) -> list[dict[str, Any]]:
    return store.query(queries.bind(queries.BUDGET_STATUS, store.database), queries.parameters(rules))


#: the rules notified once per period and threshold (their labels name the period)
BUDGET_RULES = ("budget_threshold", "scoped_budget_threshold")


class SentBudgetThresholds:
    """The budget thresholds already notified, in a small JSON file, so each is sent once per period.
    The key names tenant, period and threshold: a new month starts afresh."""

    def __init__(self, path: Path):
        self._path = path
        try:
            self._sent = set(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            self._sent = set()

    def unsent(self, findings: list[Finding]) -> list[Finding]:
        return [f for f in findings if f.rule not in BUDGET_RULES or f.key not in self._sent]

    def record(self, findings: list[Finding]) -> None:
        self._sent.update(f.key for f in findings if f.rule in BUDGET_RULES)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=self._path.name, dir=self._path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(sorted(self._sent), out, indent=1)
        os.replace(partial, self._path)  # never a half-written file
