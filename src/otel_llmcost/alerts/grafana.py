"""Grafana alerting provisioning (rules, webhook contact point, notification policy) rendered from the alert
settings and the queries of alerts/queries.py, so Grafana fires on exactly what `anomalies` prints.

Each rule's query is the shared SQL with the settings written in (`queries.inline`), wrapped to return what
Grafana alerting reads from a table: string columns become labels, the one numeric column is compared.
The queries use now() themselves, no dashboard macro or $__interval (alert queries have no interval).
"""

from __future__ import annotations

import yaml

from otel_llmcost.alerts import queries
from otel_llmcost.alerts.rules import WEBHOOK_ENV, AlertRules

DATASOURCE_UID = "llmcost-clickhouse"  # grafana/provisioning/datasources/clickhouse.yml
PLUGIN = "grafana-clickhouse-datasource"
FOLDER = "LLM cost"
CONTACT_POINT = "llmcost-webhook"

#: rule -> (uid, title, the annotation Grafana sends: its labels and the compared value $values.A.Value).
RULES = {
    "spend_anomaly": ("llmcost-spend-anomaly", "LLM spend anomaly",
                      "{{ $labels.feature }} ({{ $labels.tenant_id }}, {{ $labels.model }}) spent "
                      "{{ printf \"%.1f\" $values.A.Value }}x its daily average today (over the days with history, at "
                      "most {baseline_days})"),
    "budget_threshold": ("llmcost-budget", "LLM budget threshold",
                         "{{ $labels.tenant_id }} has spent {{ printf \"%.1f\" $values.A.Value }}% of its "
                         "{{ $labels.period }} budget, past {{ $labels.threshold }}%"),
    "scoped_budget_threshold": ("llmcost-scoped-budget", "LLM budget threshold of a feature, user or day",
                                "{{ $labels.tenant_id }}'s {{ $labels.budget }} budget: {{ printf \"%.1f\" "
                                "$values.A.Value }}% of its {{ $labels.period }} budget, past {{ $labels.threshold }}%"),
    "unpriced_usage": ("llmcost-unpriced", "Unpriced LLM usage",
                       "{{ printf \"%.0f\" $values.A.Value }} calls to {{ $labels.provider }}/{{ $labels.model }} "
                       "in the last two hours have no price"),
    "feed_silent": ("llmcost-feed-silent", "LLM spend feed silent",
                    "no LLM calls stored for {{ printf \"%.0f\" $values.A.Value }} minutes"),
}
EVALUATE_EVERY = "5m"
#: How far back each rule's queries look, in seconds, for Grafana's relativeTimeRange (the SQL sets its own).
LOOKBACK_SECONDS = 86_400


def rule_sql(rule: str, rules: AlertRules, database: str = "llmcost") -> str:
    """The SQL Grafana runs for `rule`: labels as strings and the compared value as a Float64."""
    sql, labels, value, _ = queries.ALERTS[rule]
    columns = [f"toString({label}) AS {label}" for label in labels] + [f"toFloat64({value}) AS {value}"]
    inner = queries.inline(sql, database, queries.parameters(rules)).strip()
    return f"SELECT {', '.join(columns)}\nFROM (\n{inner}\n)"


def provisioning(rules: AlertRules, database: str = "llmcost") -> dict:
    lookback = LOOKBACK_SECONDS * (rules.baseline_days + 1)
    return {
        "apiVersion": 1,
        "groups": [{
            "orgId": 1, "name": "llmcost", "folder": FOLDER, "interval": EVALUATE_EVERY,
            "rules": [_rule(name, rules, database, lookback) for name in RULES],
        }],
        "contactPoints": [{
            "orgId": 1, "name": CONTACT_POINT,
            "receivers": [{"uid": CONTACT_POINT, "type": "webhook", "disableResolveMessage": False,
                           "settings": {"url": f"${{{WEBHOOK_ENV}}}", "httpMethod": "POST"}}],
        }],
        "policies": [{
            "orgId": 1, "receiver": CONTACT_POINT, "group_by": ["alertname", "grafana_folder"],
            "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h",
            "routes": [{
                # A budget threshold is one alert instance per tenant, month and threshold: notified when it
                # starts firing and not again that month.
                "receiver": CONTACT_POINT, "object_matchers": [["llmcost_rule", "=", "budget_threshold"]],
                "group_by": ["alertname", "tenant_id", "period", "threshold"], "repeat_interval": "744h",
            }, {
                # ... and one per tenant, budget, period (a day or a month) and threshold below the tenant
                "receiver": CONTACT_POINT, "object_matchers": [["llmcost_rule", "=", "scoped_budget_threshold"]],
                "group_by": ["alertname", "tenant_id", "budget", "period", "threshold"], "repeat_interval": "744h",
            }],
        }],
    }


def _rule(name: str, rules: AlertRules, database: str, lookback: int) -> dict:
    uid, title, summary = RULES[name]
    datasource = {"type": PLUGIN, "uid": DATASOURCE_UID}
    return {
        "uid": uid, "title": title, "condition": "B", "for": "0s",
        "noDataState": "OK",  # no row = nothing found
        "execErrState": "Error",
        "labels": {"llmcost_rule": name},
        "annotations": {"summary": summary.replace("{baseline_days}", str(rules.baseline_days))},
        "data": [
            {"refId": "A", "datasourceUid": DATASOURCE_UID, "relativeTimeRange": {"from": lookback, "to": 0},
             "model": {"refId": "A", "datasource": datasource, "editorType": "sql", "format": 1,
                       "queryType": "table", "rawSql": rule_sql(name, rules, database)}},
            {"refId": "B", "datasourceUid": "__expr__",
             "model": {"refId": "B", "datasource": {"type": "__expr__", "uid": "__expr__"}, "type": "threshold",
                       "expression": "A", "conditions": [{"evaluator": {"type": "gt", "params": [0]}}]}},
        ],
    }


def render(rules: AlertRules, source: str, database: str = "llmcost") -> str:
    header = (f"# Generated by `otel-llmcost grafana-alerts` from {source}: edit that file and run it again.\n"
              f"# The webhook URL comes from the environment variable {WEBHOOK_ENV} of the Grafana process.\n")
    return header + yaml.dump(provisioning(rules, database), Dumper=_Dumper, sort_keys=False, width=120)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the SQL) as readable literal blocks."""


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))
