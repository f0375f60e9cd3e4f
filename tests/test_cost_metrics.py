"""Cost as metrics: a Prometheus scrape of the real receiver, read with prometheus-client's own parser, adds
up to the stored rows of the same calls; the same figures go as OTLP metrics to a forward destination; the
series are capped, with an overflow series that still adds up."""

from __future__ import annotations

import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from conftest import FAST_CONFIG, Receiver
from forwarding import Sink, run_app
from otel_llmcost.config import METRIC_ATTRIBUTES
from otel_llmcost.ops.costmetrics import SERIES_ATTRIBUTES, TOKEN_KINDS

CALLS = 12  # run_app(traces=6): two LLM calls per trace


def _totals(receiver: Receiver) -> tuple[dict, dict]:
    """The stored rows' totals, overall and by tenant, once every call is stored."""
    tokens = ", ".join(f"sum({kind}_tokens) AS {kind}" for kind in TOKEN_KINDS)
    query = (f"SELECT tenant_id, toString(sum(cost_usd)) AS cost, countIf(cost_usd IS NOT NULL) AS priced,"
             f" count() AS calls, {tokens} FROM llmcost.llm_usage GROUP BY tenant_id ORDER BY tenant_id")
    deadline = time.monotonic() + 60
    while True:
        rows = receiver.sql(query)
        if sum(int(row["calls"]) for row in rows) >= CALLS or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    by_tenant = {row["tenant_id"]: row for row in rows}
    overall = {"cost": sum(Decimal(row["cost"]) for row in rows), "priced": sum(int(r["priced"]) for r in rows),
               **{kind: sum(int(row[kind]) for row in rows) for kind in TOKEN_KINDS}}
    return overall, by_tenant


def _scrape(receiver: Receiver) -> tuple[str, dict]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{receiver.http_port}/metrics", timeout=10).read().decode()
    return text, {family.name: family for family in text_string_to_metric_families(text)}


def _forwarding_receiver(root: Path, export_interval: float) -> tuple[Sink, Receiver]:
    """A receiver in `root` sending its cost metrics every `export_interval` seconds to a sink process."""
    sink = Sink(root / "sink.out").start()
    config = {**FAST_CONFIG, "metrics": {"export_interval_seconds": export_interval},
              "forward": {"destinations": [{"endpoint": f"127.0.0.1:{sink.grpc_port}"}]}}
    return sink, Receiver(root / "data", config).start()


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    sink, receiver = _forwarding_receiver(tmp_path_factory.mktemp("metrics"), export_interval=1.0)
    try:
        run_app(receiver.grpc_port, traces=6, tag="metrics")
        yield receiver, sink, *_totals(receiver)
    finally:
        receiver.kill()
        sink.stop()


def _scrape_of_every_call(receiver: Receiver) -> tuple[str, dict]:
    """The scrape once it counts every call: a row is counted after its INSERT returns (in an ingest worker, by
    one more call to the store's owner), so a scrape right after the rows are queryable may miss the last batch."""
    deadline = time.monotonic() + 30
    while True:
        text, families = _scrape(receiver)
        cost = families.get("gen_ai_client_operation_cost_usd")
        counted = sum(s.value for s in cost.samples if s.name.endswith("_count")) if cost else 0
        if counted >= CALLS or time.monotonic() > deadline:
            return text, families
        time.sleep(0.2)


def test_the_scrape_adds_up_to_the_stored_rows(metered):
    receiver, _, overall, by_tenant = metered
    text, families = _scrape_of_every_call(receiver)
    cost = families["gen_ai_client_operation_cost_usd"]
    sums = [s for s in cost.samples if s.name.endswith("_sum")]
    counts = [s for s in cost.samples if s.name.endswith("_count")]
    assert sum(s.value for s in sums) == pytest.approx(float(overall["cost"]), rel=1e-12)
    assert sum(s.value for s in counts) == overall["priced"] == CALLS
    for tenant, row in by_tenant.items():  # a series per tenant and model
        tenant_sum = sum(sample.value for sample in sums if sample.labels["tenant_id"] == tenant)
        assert tenant_sum == pytest.approx(float(Decimal(row["cost"])), rel=1e-12)
    assert {sample.labels["request_model"] for sample in sums} == {"gpt-4o-mini", "gpt-4o"}
    # the text carries the exact decimal sum, every digit
    exact = sum(Decimal(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith("gen_ai_client_operation_cost_usd_sum{"))
    assert exact == overall["cost"]
    tokens = families["llmcost_tokens"]
    for kind in TOKEN_KINDS:
        assert sum(s.value for s in tokens.samples if s.labels["kind"] == kind) == overall[kind]
    labels = sums[0].labels
    assert set(labels) == {"tenant_id", "feature", "service_name", "environment", "provider", "request_model"}
    assert (labels["feature"], labels["service_name"], labels["environment"]) == ("ask", "forward-app", "test")


def test_the_same_figures_go_as_otlp_metrics_to_the_destinations(metered):
    _, sink, overall, _ = metered
    deadline = time.monotonic() + 30
    while True:  # cumulative exports every second: the last one has every stored call
        latest = None
        for body in sink.exports("metrics"):
            latest = ExportMetricsServiceRequest.FromString(body)
        metrics = {m.name: m for m in latest.resource_metrics[0].scope_metrics[0].metrics} if latest else {}
        cost = metrics.get("gen_ai.client.operation.cost")
        if (cost and sum(p.count for p in cost.histogram.data_points) == CALLS) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert cost.unit == "USD"
    assert sum(p.sum for p in cost.histogram.data_points) == pytest.approx(float(overall["cost"]), rel=1e-12)
    attributes = {kv.key for kv in cost.histogram.data_points[0].attributes}
    assert {"tenant.id", "feature.name", "service.name", "gen_ai.provider.name", "gen_ai.request.model"} <= attributes
    input_points = [p for p in metrics["otel_llmcost.token.usage"].sum.data_points
                    if any(kv.key == "gen_ai.token.type" and kv.value.string_value == "input" for kv in p.attributes)]
    assert sum(p.as_int for p in input_points) == overall["input"]


def test_series_over_the_cap_go_to_one_overflow_series(tmp_path):
    receiver = Receiver(tmp_path / "data", {**FAST_CONFIG, "metrics": {"max_series": 2}}).start()
    try:
        run_app(receiver.grpc_port, traces=6, tag="cap")  # 3 tenants x 2 models: 6 combinations
        overall, _ = _totals(receiver)
        text, families = _scrape_of_every_call(receiver)
        sums = [s for s in families["gen_ai_client_operation_cost_usd"].samples if s.name.endswith("_sum")]
        assert len(sums) == 3  # two series and the overflow one
        assert [s.labels for s in sums if "otel_metric_overflow" in s.labels] == [{"otel_metric_overflow": "true"}]
        assert sum(s.value for s in sums) == pytest.approx(float(overall["cost"]), rel=1e-12)
        overflow = families["llmcost_metric_overflow_calls"].samples[0].value
        assert 0 < overflow < CALLS
    finally:
        receiver.kill()


def test_configurable_attributes_are_row_text_fields():
    assert set(METRIC_ATTRIBUTES) <= set(SERIES_ATTRIBUTES)


def _points(sink: Sink) -> list[tuple[str, int, int, tuple, int]]:
    """(service.instance.id, start, time, series attributes, calls) of every cost histogram point that arrived."""
    found = []
    for body in sink.exports("metrics"):
        for resource in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            instance = next(kv.value.string_value for kv in resource.resource.attributes
                            if kv.key == "service.instance.id")
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == "gen_ai.client.operation.cost":
                        found += [(instance, p.start_time_unix_nano, p.time_unix_nano,
                                   tuple(sorted((kv.key, kv.value.string_value) for kv in p.attributes)), p.count)
                                  for p in metric.histogram.data_points]
    return found


def _wait_for_calls(sink: Sink, calls: int, after_start: int = 0) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        latest: dict[tuple, int] = {}
        for _, start, _, series, count in _points(sink):
            if start > after_start:
                latest[series] = count
        if sum(latest.values()) >= calls:
            return
        time.sleep(0.3)
    raise AssertionError(f"the sink never got {calls} calls in the cost metrics")


def test_a_restart_reads_as_a_reset_of_the_same_series_not_a_drop(tmp_path):
    """Killed -9 and started again, the receiver counts from zero: its points carry a start time after every
    earlier point, under the same service.instance.id, so a backend sees a reset; within one start time every
    series only grows."""
    sink, receiver = _forwarding_receiver(tmp_path, export_interval=0.5)
    try:
        run_app(receiver.grpc_port, traces=6, tag="before")
        _wait_for_calls(sink, CALLS)
        receiver.kill()
        first_start = _points(sink)[0][1]
        receiver.start()
        run_app(receiver.grpc_port, traces=1, tag="after")
        _wait_for_calls(sink, 2, after_start=first_start)
    finally:
        receiver.kill()
        sink.stop()
    points = _points(sink)
    assert len({instance for instance, *_ in points}) == 1 and points[0][0]
    starts = sorted({start for _, start, *_ in points})
    assert starts == [first_start, starts[-1]]  # one start per process
    before = [p for p in points if p[1] == first_start]
    after = [p for p in points if p[1] != first_start]
    assert starts[-1] > max(moment for _, _, moment, _, _ in before)  # the reset is after every earlier point
    assert all(start <= moment for _, start, moment, _, _ in points)
    for run in (before, after):
        by_series: dict[tuple, list[int]] = {}
        for _, _, _, series, count in sorted(run, key=lambda p: p[2]):
            by_series.setdefault(series, []).append(count)
        assert all(counts == sorted(counts) for counts in by_series.values())  # cumulative: never down
    last_before = {series: count for _, _, _, series, count in sorted(before, key=lambda p: p[2])}
    last_after = {series: count for _, _, _, series, count in sorted(after, key=lambda p: p[2])}
    assert sum(last_before.values()) == CALLS and sum(last_after.values()) == 2
    assert any(last_after[series] < last_before[series] for series in last_after)  # lower: read as a reset
