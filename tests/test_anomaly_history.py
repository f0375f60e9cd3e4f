"""The anomaly rule in a store's first week: today is compared with the days that have history, so three days
of steady demo traffic report nothing, and a spike fires for the spiked feature alone; the demo's live traffic
follows its backfilled daily pattern, so a live day is one more steady day."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone

import yaml

from conftest import FAST_CONFIG, Receiver, run_cli
from demo_data import SPIKED, demo_receiver, wait_for_rows
from otel_llmcost.demo.run import Clock, DemoPlan, run_demo
from otel_llmcost.store.remote import RemoteStore

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
    # history: from each group's first call in the window, never the 7 baseline days (sparse groups start a few
    # hours into the first day, and at night none may call in its first hour: 3.0 itself depends on the hour)
    days = [float(re.search(r"its ([\d.]+)-day daily average", f["message"]).group(1)) for f in found]
    assert all(2 <= day <= 3 for day in days), days
    assert all("(the days with history, of 7)" in f["message"] for f in found)


class SimulatedClock:
    """Days of live demo traffic at once: sleeping moves the time on."""

    def __init__(self, start: datetime):
        self.time = start

    def now(self) -> datetime:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += timedelta(seconds=seconds)


def live_anomalies(tmp_path, backfill_days: int, live: timedelta, spike: str | None = None,
                   per_day: int = 600) -> list[dict]:
    """Spend anomalies after the demo's backfill and then `live` of its live traffic (on a simulated clock),
    ending now: the live traffic follows the backfilled days' pattern (no --rate). 600 requests a day give
    the smallest group (a tenant's feature on one model) ~15 calls a day: a threefold day by chance is then
    not a thing that happens (at 150, with ~4 a day, it does)."""
    alerts_file = tmp_path / "alerts.yaml"
    alerts_file.write_text(yaml.safe_dump(ALERTS))
    receiver = Receiver(tmp_path / "data", FAST_CONFIG).start()
    try:
        began = datetime.now(timezone.utc) - live
        plan = DemoPlan("http", f"http://127.0.0.1:{receiver.http_port}", None, live.total_seconds(),
                        backfill_days, per_day, spike, 20261207)
        simulated = SimulatedClock(began)
        result = run_demo(plan, began, io.StringIO(), Clock(simulated.now, simulated.sleep))
        assert result.refused == 0 and result.requests > per_day * (backfill_days + live.days)
        store = RemoteStore.of_running_receiver(str(receiver.data_dir), "llmcost")
        wait_for_rows(store, result.spans - result.requests)
        live_calls = store.query(f"SELECT count() AS n FROM llmcost.llm_usage WHERE ts >= "
                                 f"toDateTime64({began.timestamp():.6f}, 6, 'UTC')")[0]["n"]
        assert live_calls > 0
        out = run_cli("anomalies", "--data-dir", str(receiver.data_dir), "--alerts", str(alerts_file), "--json")
    finally:
        receiver.stop()
    return [f for f in map(json.loads, out.stdout.splitlines()) if f["rule"] == "spend_anomaly"]


def test_three_days_of_steady_traffic_with_a_live_day_report_no_anomaly(tmp_path):
    assert live_anomalies(tmp_path, backfill_days=2, live=timedelta(days=1)) == []


def test_a_spike_in_live_traffic_fires_for_its_feature_alone(tmp_path):
    found = live_anomalies(tmp_path, backfill_days=3, live=timedelta(hours=3), spike=SPIKED)
    assert found and {f["labels"]["feature"] for f in found} == {SPIKED}
