"""`otel-llmcost anomalies`, `budgets` and `grafana-alerts`: the alert rules without Grafana, and for it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any

from otel_llmcost.alerts import grafana
from otel_llmcost.alerts.findings import SentBudgetThresholds, budget_status, find
from otel_llmcost.alerts.rules import AlertRules, load_alert_rules
from otel_llmcost.alerts.webhook import post_findings
from otel_llmcost.cli.tables import print_table
from otel_llmcost.config import Settings
from otel_llmcost.errors import ConfigError
from otel_llmcost.store import open_reader

SENT_FILE = "alerts-sent.json"  # in the data directory: budget thresholds already posted
ALERTS_USED_FILE = "alerts-file"  # in the data directory: the alert settings the receiver last started with


_ALERTS_HELP = "alert settings (default: the config's alerts.file, else the file the receiver last ran with)"


def add_commands(commands, store_flags) -> None:
    anomalies = commands.add_parser("anomalies", help="what the alert rules find now: spend anomalies, budgets, "
                                    "unpriced usage, a silent feed")
    store_flags(anomalies)
    anomalies.add_argument("--alerts", metavar="FILE", help=_ALERTS_HELP)
    anomalies.add_argument("--since", help="the trailing days today is compared with, e.g. 7d (default: the file's)")
    anomalies.add_argument("--factor", type=float, help="today over the daily average that counts (default 3)")
    anomalies.add_argument("--webhook", metavar="URL", help="also POST the findings here (budget thresholds once "
                           "per month)")
    anomalies.add_argument("--json", action="store_true", help="JSON lines instead of text")
    anomalies.set_defaults(run=run_anomalies)

    budgets = commands.add_parser("budgets", help="each tenant's month so far against its budget")
    store_flags(budgets)
    budgets.add_argument("--alerts", metavar="FILE", help=_ALERTS_HELP)
    budgets.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    budgets.set_defaults(run=run_budgets)

    rules = commands.add_parser("grafana-alerts", help="print Grafana alerting provisioning for the alert settings")
    store_flags(rules)
    rules.add_argument("--alerts", metavar="FILE", help=_ALERTS_HELP)
    rules.set_defaults(run=run_grafana_alerts)


def remember_alerts_file(settings: Settings) -> None:
    """Note in the data directory which alert settings the receiver runs with, for the commands below."""
    used = Path(settings.data_dir) / ALERTS_USED_FILE
    if settings.alerts.file:
        used.write_text(str(Path(settings.alerts.file).resolve()) + "\n", encoding="utf-8")
    else:
        used.unlink(missing_ok=True)


def _alerts_file(args: argparse.Namespace, settings: Settings) -> str | None:
    """--alerts, else the config's alerts.file, else the file the receiver of this data directory last ran
    with; None (and where it looked, on stderr) when there is none."""
    if args.alerts or settings.alerts.file:
        return args.alerts or settings.alerts.file
    used = Path(settings.data_dir) / ALERTS_USED_FILE
    if used.exists():
        return used.read_text(encoding="utf-8").strip()
    hint = " (./alerts.yaml is here: --alerts alerts.yaml)" if Path("alerts.yaml").exists() else ""
    print(f"no alert settings: no --alerts, no alerts.file in --config, and the receiver of {settings.data_dir} "
          f"ran without one ({used} does not exist); using the defaults, with no budgets{hint}", file=sys.stderr)
    return None


def _rules(args: argparse.Namespace, settings: Settings) -> tuple[AlertRules, str]:
    path = _alerts_file(args, settings)
    rules = load_alert_rules(path)
    changes: dict[str, Any] = {}  # AlertRules fields
    if getattr(args, "since", None):
        age = re.fullmatch(r"(\d+)([dw])", args.since.strip())
        if not age or int(age.group(1)) < 1:
            raise ConfigError(f"--since {args.since!r} must be whole days or weeks, like 7d or 2w")
        changes["baseline_days"] = int(age.group(1)) * (7 if age.group(2) == "w" else 1)
    if getattr(args, "factor", None) is not None:
        if args.factor <= 1:
            raise ConfigError("--factor must be above 1")
        changes["factor"] = args.factor
    if getattr(args, "webhook", None):
        changes["webhook"] = args.webhook
    return dataclasses.replace(rules, **changes), path or "the default alert settings"


def _read(settings: Settings, fetch):
    """fetch(store) on a reader of the store, closed afterwards."""
    store = open_reader(settings)
    try:
        return fetch(store)
    finally:
        store.close()


def run_anomalies(args: argparse.Namespace, settings: Settings) -> int:
    rules, _ = _rules(args, settings)
    findings = _read(settings, lambda store: find(store, rules))
    for finding in findings:
        print(json.dumps(finding.as_json()) if args.json else f"{finding.rule}: {finding.message}")
    if not findings:
        print("nothing to report: no anomaly, budget threshold, new unpriced model or silence", file=sys.stderr)
    if args.webhook:
        sent = SentBudgetThresholds(Path(settings.data_dir) / SENT_FILE)
        unsent = sent.unsent(findings)
        if unsent:
            post_findings(rules.webhook_url, unsent)
            sent.record(unsent)
        print(f"posted {len(unsent)} findings to the webhook", file=sys.stderr)
    return 0


def run_budgets(args: argparse.Namespace, settings: Settings) -> int:
    rules, _ = _rules(args, settings)
    rows = _read(settings, lambda store: budget_status(store, rules))
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print_table([{"group": row["tenant_id"], **{k: v for k, v in row.items() if k != "tenant_id"}}
                     for row in rows], "tenant", "no spend this month and no budgets")
    return 0


def run_grafana_alerts(args: argparse.Namespace, settings: Settings) -> int:
    rules, source = _rules(args, settings)
    sys.stdout.write(grafana.render(rules, source, settings.store.database_name))
    return 0
