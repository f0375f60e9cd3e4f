"""The anomaly rule in a store's first week: today is compared with the days that have history, so three days
of steady demo traffic report nothing, and a spike fires for the spiked feature alone."""

from __future__ import annotations

import json
import re

import yaml
from conftest import run_cli
from demo_data import SPIKED, demo_receiver

ALERTS = {"anomaly": {"factor": 3, "min_usd": "0.02", "baseline_days": 7}}


def spend_anomalies(tmp_path, *demo_args: str) -> list[dict]:
    alerts_file = tmp_path / "alerts.yaml"
    alerts_file.write_text(yaml.safe_dump(ALERTS))
    with demo_receiver(tmp_path / "data", "--backfill-days", "3", *demo_args) as (receiver, _):
        out = run_cli("anomalies", "--data-dir", str(receiver.data_dir), "--alerts", str(alerts_file), "--json")
    return [f for f in map(json.loads, out.stdout.splitlines()) if f["rule"] == "spend_anomaly"]


def test_three_steady_days_report_no_anomaly(tmp_path):
    assert spend_anomalies(tmp_path) == []


def test_a_spike_in_the_first_week_fires_for_its_feature_alone(tmp_path):
    found = spend_anomalies(tmp_path, "--spike", SPIKED)
    assert found and {f["labels"]["feature"] for f in found} == {SPIKED}
    # history: from each group's first call in the window (sparse groups start a few hours into the first day)
    days = [float(re.search(r"its ([\d.]+)-day daily average", f["message"]).group(1)) for f in found]
    assert all(2 <= day <= 3 for day in days) and 3 in days, days
    assert all("(the days with history, of 7)" in f["message"] for f in found)
