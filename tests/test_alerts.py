"""Anomaly, budget, unpriced and silence alerts: `otel-llmcost anomalies`/`budgets` and the provisioned Grafana
rules run the same SQL on a real receiver loaded by `otel-llmcost demo --spike`, and post to a real webhook."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from demo_data import SPIKED, demo_receiver, wait_for_rows
from otel_llmcost.alerts import grafana, queries
from otel_llmcost.alerts.rules import load_alert_rules
from otel_llmcost.config import load_settings
from otel_llmcost.demo.spans import Emitter
from otel_llmcost.demo.workload import FEATURES, TENANTS, Attempt, Call, Model, Request
from otel_llmcost.errors import ConfigError
from otel_llmcost.reports.chargeback import load_chargeback
from otel_llmcost.store.chdb_store import ChdbStore
from test_grafana import usage

ROOT = Path(__file__).resolve().parent.parent
NEW_MODEL = Model("acme-llm", "brand-new-model", "llm.internal", "")
TEST_ALERTS = {"anomaly": {"factor": 3, "min_usd": "0.02", "baseline_days": 7}, "silence_minutes": 60,
               "budgets": {"acme": "0.01", "globex": "1000000"}}


class Webhook:
    """A real HTTP server that records every JSON body POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def spiked(tmp_path_factory):
    """(receiver, reader, alerts file): the demo with a spike, plus one call of a model never seen before."""
    base = tmp_path_factory.mktemp("alerts")
    alerts_file = base / "alerts.yaml"
    alerts_file.write_text(yaml.safe_dump(TEST_ALERTS))
    with demo_receiver(base / "data", "--spike", SPIKED, config={"alerts": {"file": str(alerts_file)}}) as (
            receiver, reader):
        calls = reader.query("SELECT count() AS n FROM llmcost.llm_usage")[0]["n"]
        now = datetime.now(timezone.utc)
        emitter = Emitter("http", f"http://127.0.0.1:{receiver.http_port}")
        attempt = Attempt(now, now + timedelta(milliseconds=500), "", 100, 0, 0, 10)
        emitter.emit(Request("req-new-model", TENANTS[0], FEATURES[0], "u-new", "s-new", now,
                             now + timedelta(seconds=1), (Call(NEW_MODEL, False, (attempt,)),)))
        emitter.shutdown()
        wait_for_rows(reader, calls + 1)
        yield receiver, reader, alerts_file


def anomalies(receiver, alerts_file, *args: str) -> list[dict]:
    out = run_cli("anomalies", "--data-dir", str(receiver.data_dir), "--alerts", str(alerts_file), "--json", *args)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_the_spike_fires_for_that_feature_alone_in_the_cli_and_the_grafana_rule(spiked):
    receiver, reader, alerts_file = spiked
    found = [f for f in anomalies(receiver, alerts_file) if f["rule"] == "spend_anomaly"]
    assert found and {f["labels"]["feature"] for f in found} == {SPIKED}
    assert all(f["value"] > 3 and "-day daily average" in f["message"] and "of 7)" in f["message"] for f in found)
    rows = reader.query(grafana.rule_sql("spend_anomaly", load_alert_rules(str(alerts_file))))
    assert sorted((r["tenant_id"], r["feature"], r["model"]) for r in rows) == sorted(
        tuple(f["labels"].values()) for f in found)
    assert [r["ratio"] for r in sorted(rows, key=lambda r: -r["ratio"])] == pytest.approx([f["value"] for f in found])
    # A higher factor than any ratio: nothing fires.
    assert not [f for f in anomalies(receiver, alerts_file, "--factor", "1000") if f["rule"] == "spend_anomaly"]


def test_budget_thresholds_and_the_month_against_budget(spiked):
    receiver, reader, alerts_file = spiked
    thresholds = [f for f in anomalies(receiver, alerts_file) if f["rule"] == "budget_threshold"]
    assert [(f["labels"]["tenant_id"], f["labels"]["threshold"]) for f in thresholds] == [
        ("acme", "80"), ("acme", "90"), ("acme", "100")]
    assert all("% of its" in f["message"] and f"{f['value']:.1f}%" in f["message"] for f in thresholds)
    month = reader.query("SELECT tenant_id, sum(cost_usd) AS cost FROM llmcost.llm_usage "
                         "WHERE ts >= toStartOfMonth(today()) GROUP BY tenant_id")
    out = run_cli("budgets", "--data-dir", str(receiver.data_dir), "--alerts", str(alerts_file), "--json").stdout
    status = {row["tenant_id"]: row for row in map(json.loads, out.splitlines())}
    for row in month:
        assert Decimal(status[row["tenant_id"]]["spent_usd"]) == Decimal(row["cost"])
    acme = status["acme"]
    assert (acme["budget_usd"], status["globex"]["budget_usd"]) == ("0.01", "1000000")
    # percent is a display figure computed in Float64 as the SQL does (100 * spent / budget, then rounded)
    assert acme["percent"] == round(100 * float(acme["spent_usd"]) / 0.01, 2)
    table = run_cli("budgets", "--data-dir", str(receiver.data_dir), "--alerts", str(alerts_file)).stdout
    assert table.splitlines()[0].split()[:3] == ["tenant", "spent_usd", "budget_usd"]
    # without --alerts: the settings the receiver runs with
    found = run_cli("budgets", "--data-dir", str(receiver.data_dir), "--json")
    budgets = {row["tenant_id"]: row["budget_usd"] for row in map(json.loads, found.stdout.splitlines())}
    assert budgets == {tenant: row["budget_usd"] for tenant, row in status.items()}  # the projection moves on


def test_budgets_without_alert_settings_say_where_they_looked(tmp_path):
    store = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    store.ensure_schema()
    store.close()
    result = run_cli("budgets", "--data-dir", str(tmp_path))
    assert "no alert settings" in result.stderr and str(tmp_path) in result.stderr and "--alerts" in result.stderr


def test_a_model_unpriced_for_the_first_time_fires_and_one_unpriced_all_week_does_not(spiked):
    receiver, _, alerts_file = spiked
    found = [f for f in anomalies(receiver, alerts_file) if f["rule"] == "unpriced_usage"]
    assert [f["labels"] for f in found] == [{"provider": "acme-llm", "model": "brand-new-model"}]


def test_webhook_gets_the_findings_and_each_budget_threshold_once(spiked):
    receiver, _, alerts_file = spiked
    hook = Webhook()
    first = anomalies(receiver, alerts_file, "--webhook", hook.url)
    anomalies(receiver, alerts_file, "--webhook", hook.url)
    hook.close()
    [posted, again] = hook.received
    assert posted["findings"] == first and posted["text"].count("\n") == len(first) - 1
    assert {f["rule"] for f in again["findings"]} == {"spend_anomaly", "unpriced_usage"}  # budgets: sent already


def test_a_silent_feed(tmp_path):
    store = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    try:
        store.ensure_schema()
        rules = load_alert_rules(None)
        params = queries.parameters(rules)
        silent = queries.bind(queries.FEED_SILENT, "llmcost")
        assert store.query(silent, params) == []  # nothing ever arrived: nothing to miss
        now = datetime.now(timezone.utc)
        store.insert_usage([usage(1, 0, ts=now - timedelta(hours=3))])
        [found] = store.query(silent, params)
        assert 179 <= found["silent_minutes"] <= 181
        assert store.query(grafana.rule_sql("feed_silent", rules)) == [{"silent_minutes": found["silent_minutes"]}]
        store.insert_usage([usage(2, 0, ts=now)])
        assert store.query(silent, params) == []
    finally:
        store.close()


def test_the_alerts_file_is_checked_whole_and_by_the_receivers_settings(tmp_path):
    bad = tmp_path / "alerts.yaml"
    bad.write_text(yaml.safe_dump({"anomaly": {"factor": 0.5, "min_usd": 1.5, "typo": 1}, "budgets": {"acme": "x"},
                                   "webhook": "ftp://x", "budget_thresholds": [80, "ninety"]}))
    with pytest.raises(ConfigError) as error:
        load_alert_rules(str(bad))
    for problem in ("anomaly.factor", "anomaly.min_usd", "unknown key anomaly.typo", "budgets.acme", "webhook",
                    "budget_thresholds"):
        assert problem in str(error.value)
    with pytest.raises(ConfigError, match="alerts.file"):
        load_settings(None, {"alerts.file": str(bad)})
    assert load_settings(None, {"alerts.file": str(ROOT / "alerts.yaml")}).alerts.file.endswith("alerts.yaml")


@pytest.mark.parametrize("load, what", [(load_alert_rules, "alerts file"), (load_chargeback, "chargeback file"),
                                        (load_settings, "config file")])
def test_every_yaml_file_says_what_is_wrong_with_it(tmp_path, load, what):
    """One loader reads the alerts, chargeback and config files: the same clear errors for each."""
    unreadable, broken, binary = tmp_path / "missing.yaml", tmp_path / "broken.yaml", tmp_path / "binary.yaml"
    broken.write_text("tenants:\n  acme: [unclosed\n")
    binary.write_bytes(b"tenants: \xff\xfe\n")
    for path, message in ((unreadable, f"cannot read {what} {unreadable}: No such file"),
                          (broken, f"{what} {broken} is not valid YAML: line 3, column 1"),
                          (binary, f"{what} {binary} is not UTF-8 text (byte 9)")):
        with pytest.raises(ConfigError) as error:
            load(str(path))
        assert str(error.value).startswith(message), str(error.value)


def test_grafana_provisioning_is_generated_from_the_alerts_file_and_its_queries_run(spiked):
    _, reader, _ = spiked
    committed = (ROOT / "grafana/provisioning/alerting/llmcost-alerts.yaml").read_text()
    rules = load_alert_rules(str(ROOT / "alerts.yaml"))
    assert committed == grafana.render(rules, "alerts.yaml")
    provisioning = yaml.safe_load(committed)
    [group] = provisioning["groups"]
    assert [rule["labels"]["llmcost_rule"] for rule in group["rules"]] == list(queries.ALERTS)
    for rule in group["rules"]:
        query, condition = rule["data"]
        sql = query["model"]["rawSql"]
        assert "$" not in sql and query["datasourceUid"] == grafana.DATASOURCE_UID  # no macro, no $__interval
        assert condition["model"]["expression"] == "A" and rule["condition"] == "B"
        rows = reader.query(sql)
        if rule["labels"]["llmcost_rule"] == "spend_anomaly":
            assert rows and {r["feature"] for r in rows} == {SPIKED}
    [contact] = provisioning["contactPoints"]
    assert contact["receivers"][0]["settings"]["url"] == "${LLMCOST_ALERT_WEBHOOK_URL}"
    [policy] = provisioning["policies"]
    [budget_route, scoped_route] = policy["routes"]
    assert budget_route["object_matchers"] == [["llmcost_rule", "=", "budget_threshold"]]
    assert {"tenant_id", "period", "threshold"} <= set(budget_route["group_by"])
    assert scoped_route["object_matchers"] == [["llmcost_rule", "=", "scoped_budget_threshold"]]
    assert {"tenant_id", "budget", "period", "threshold"} <= set(scoped_route["group_by"])
