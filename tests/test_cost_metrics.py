"""Cost as metrics: a Prometheus scrape of the real receiver, read with prometheus-client's own parser, adds
up to the stored rows of the same calls; the same figures go as OTLP metrics to a forward destination; the
series are capped, with an overflow series that still adds up."""

from __future__ import annotations

import time
import urllib.request
from decimal import Decimal

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


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    sink = Sink(root / "sink.out").start()
    config = {**FAST_CONFIG, "metrics": {"export_interval_seconds": 1.0},
              "forward": {"destinations": [{"endpoint": f"127.0.0.1:{sink.grpc_port}"}]}}
    receiver = Receiver(root / "data", config).start()
    try:
        run_app(receiver.grpc_port, traces=6, tag="metrics")
        yield receiver, sink, *_totals(receiver)
    finally:
        receiver.kill()
        sink.stop()


def test_the_scrape_adds_up_to_the_stored_rows(metered):
    receiver, _, overall, by_tenant = metered
    text, families = _scrape(receiver)
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
        text, families = _scrape(receiver)
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
