"""Forwarding, end to end with real processes: the OpenTelemetry SDK sends to the receiver, which sends on to
downstream OTLP endpoints (tests/otlp_sink.py, gRPC and HTTP/protobuf): every span arrives once with its ids
and attributes, LLM call spans with the cost of their stored rows; metrics and logs pass unchanged; nothing
is lost while a destination is down and the receiver is killed meanwhile."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from decimal import Decimal

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from conftest import FAST_CONFIG, Receiver
from forwarding import Sink, ids, run_app
from payloads import post

LLM_NAMES = ("chat gpt-4o-mini", "chat gpt-4o")


def _destinations(grpc_sink: Sink, http_sink: Sink | None = None) -> list[dict]:
    destinations = [{"name": "grpc-sink", "endpoint": f"127.0.0.1:{grpc_sink.grpc_port}", "compression": "gzip"}]
    if http_sink is not None:
        destinations.append({"name": "http-sink", "endpoint": f"http://127.0.0.1:{http_sink.http_port}",
                             "protocol": "http/protobuf", "compression": "none"})
    return destinations


def _config(destinations: list[dict]) -> dict:
    return {**FAST_CONFIG, "forward": {"destinations": destinations, "max_retry_delay_seconds": 2.0}}


@pytest.fixture(scope="module")
def forwarded(tmp_path_factory):
    """The app's spans sent once through a receiver forwarding to a gRPC and an HTTP/protobuf endpoint."""
    root = tmp_path_factory.mktemp("forward")
    sinks = [Sink(root / "grpc.out").start(), Sink(root / "http.out").start()]
    receiver = Receiver(root / "data", _config(_destinations(*sinks))).start()
    try:
        sent = run_app(receiver.grpc_port, traces=6, tag="m")
        arrived = [sink.wait_for_spans(len(sent)) for sink in sinks]
        yield receiver, sinks, sent, arrived
    finally:
        receiver.kill()
        for sink in sinks:
            sink.stop()


def _stored_rows(receiver: Receiver, count: int) -> dict[str, dict]:
    deadline = time.monotonic() + 60
    while True:
        rows = receiver.sql(
            "SELECT span_id, toString(cost_usd) AS cost, toString(input_cost_usd) AS input_cost,"
            " toString(output_cost_usd) AS output_cost, cost_status, price_id, tenant_id, feature, request_id"
            " FROM llmcost.llm_usage FORMAT JSONEachRow")
        if len(rows) >= count or time.monotonic() > deadline:
            return {row["span_id"]: row for row in rows}
        time.sleep(0.3)


def test_every_span_arrives_once_with_its_ids_and_attributes(forwarded):
    _, _, sent, arrived = forwarded
    for spans in arrived:
        assert Counter((trace, span) for trace, span, _, _ in spans) == Counter(ids(span) for span in sent)
        by_id = {(trace, span): attributes for trace, span, _, attributes in spans}
        for span in sent:
            attributes = by_id[ids(span)]
            # what the app set is there unchanged; only LLM call spans gain attributes
            assert {key: attributes.get(key) for key in span.attributes} == dict(span.attributes)
            if span.name not in LLM_NAMES:
                stamped = {"otel_llmcost.auth.tenant", "otel_llmcost.auth.key_id"}
                assert set(attributes) <= set(span.attributes) | stamped


def test_llm_spans_carry_the_cost_of_their_stored_rows(forwarded):
    receiver, _, sent, arrived = forwarded
    calls = [span for span in sent if span.name in LLM_NAMES]
    rows = _stored_rows(receiver, len(calls))
    assert len(rows) == len(calls)
    for spans in arrived:
        by_id = {span: attributes for _, span, _, attributes in spans}
        for call in calls:
            attributes, row = by_id[ids(call)[1]], rows[ids(call)[1]]
            assert row["cost_status"] == "priced" and Decimal(row["cost"]) > 0
            assert Decimal(attributes["otel_llmcost.cost_usd"]) == Decimal(row["cost"])  # every digit
            assert Decimal(attributes["otel_llmcost.cost.input_cost"]) == Decimal(row["input_cost"])
            assert Decimal(attributes["otel_llmcost.cost.output_cost"]) == Decimal(row["output_cost"])
            assert attributes["otel_llmcost.cost.status"] == "priced"
            assert attributes["otel_llmcost.price_id"] == row["price_id"]
            assert (attributes["otel_llmcost.tenant_id"], attributes["otel_llmcost.feature"],
                    attributes["otel_llmcost.request_id"]) == (row["tenant_id"], row["feature"], row["request_id"])
            if call.name == "chat gpt-4o":  # the client sent a cost: it is kept, ours goes under our prefix
                assert attributes["gen_ai.usage.cost.amount"] == 0.25
                assert attributes["otel_llmcost.cost.amount"] == float(Decimal(row["cost"]))
                assert attributes["otel_llmcost.cost.source"] == "local"
            else:
                assert attributes["gen_ai.usage.cost.amount"] == float(Decimal(row["cost"]))
                assert (attributes["gen_ai.usage.cost.currency"], attributes["gen_ai.usage.cost.source"]) == (
                    "USD", "local")


def test_metrics_and_logs_pass_through_unchanged(forwarded):
    receiver, sinks, _, _ = forwarded
    metrics = ExportMetricsServiceRequest()
    gauge = metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="queue.depth", unit="1")
    gauge.gauge.data_points.add(as_int=7, time_unix_nano=1_700_000_000_000_000_000)
    logs = ExportLogsServiceRequest()
    record = logs.resource_logs.add().scope_logs.add().log_records.add(severity_text="WARN")
    record.body.string_value = "a log line"
    record.trace_id = bytes(range(16))
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")(
            metrics.SerializeToString(), timeout=10)
    answer = urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{receiver.http_port}/v1/logs", data=logs.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"}), timeout=10)
    assert answer.status == 200
    for sink in sinks:
        deadline = time.monotonic() + 30
        while not (sink.exports("metrics") and sink.exports("logs")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sink.exports("metrics") == [metrics.SerializeToString()]
        assert sink.exports("logs") == [logs.SerializeToString()]


def test_metrics_and_logs_in_otlp_json_are_passed_on_as_the_same_protobuf_requests(forwarded):
    """OTLP/HTTP JSON (hex ids, integer enums, 64-bit integers as strings) is accepted and leaves as protobuf,
    the destinations' encoding: the request a protobuf client would have sent, field for field."""
    receiver, sinks, _, _ = forwarded
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    metrics_json = {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "json-app"}}]}, "scopeMetrics": [{"metrics": [
            {"name": "http.server.duration", "unit": "ms", "histogram": {"aggregationTemporality": 2, "dataPoints": [
                {"startTimeUnixNano": "1700000000000000000", "timeUnixNano": "1700000060000000000", "count": "3",
                 "sum": 41.5, "bucketCounts": ["1", "2"], "explicitBounds": [10.0],
                 "exemplars": [{"asDouble": 12.5, "timeUnixNano": "1700000030000000000", "traceId": trace_id,
                                "spanId": span_id}]}]}},
            {"name": "queue.depth", "gauge": {"dataPoints": [{"asInt": "9", "timeUnixNano": "1700000060000000000"}]}},
        ]}]}]}
    logs_json = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1700000000000000000", "severityNumber": 13, "severityText": "WARN",
         "body": {"stringValue": "a JSON log line"}, "traceId": trace_id, "spanId": span_id,
         "attributes": [{"key": "retries", "value": {"intValue": "2"}}]}]}]}]}
    metrics = ExportMetricsServiceRequest()
    metrics.resource_metrics.add().resource.attributes.add(key="service.name").value.string_value = "json-app"
    scope = metrics.resource_metrics[0].scope_metrics.add()
    histogram = scope.metrics.add(name="http.server.duration", unit="ms").histogram
    histogram.aggregation_temporality = 2
    histogram.data_points.add(start_time_unix_nano=1_700_000_000_000_000_000, time_unix_nano=1_700_000_060_000_000_000,
                              count=3, sum=41.5, bucket_counts=[1, 2], explicit_bounds=[10.0]).exemplars.add(
        as_double=12.5, time_unix_nano=1_700_000_030_000_000_000, trace_id=bytes.fromhex(trace_id),
        span_id=bytes.fromhex(span_id))
    scope.metrics.add(name="queue.depth").gauge.data_points.add(as_int=9, time_unix_nano=1_700_000_060_000_000_000)
    logs = ExportLogsServiceRequest()
    record = logs.resource_logs.add().scope_logs.add().log_records.add(
        time_unix_nano=1_700_000_000_000_000_000, severity_number=13, severity_text="WARN",
        trace_id=bytes.fromhex(trace_id), span_id=bytes.fromhex(span_id))
    record.body.string_value = "a JSON log line"
    record.attributes.add(key="retries").value.int_value = 2
    for signal, document in (("metrics", metrics_json), ("logs", logs_json)):
        answer = urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{receiver.http_port}/v1/{signal}", data=json.dumps(document).encode(),
            headers={"Content-Type": "application/json"}), timeout=10)
        assert (answer.status, answer.headers["Content-Type"], answer.read()) == (200, "application/json", b"{}")
    for sink in sinks:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
                metrics.SerializeToString() in sink.exports("metrics")
                and logs.SerializeToString() in sink.exports("logs")):
            time.sleep(0.2)
        assert metrics.SerializeToString() in sink.exports("metrics")
        assert logs.SerializeToString() in sink.exports("logs")


def test_a_json_export_that_is_not_otlp_is_refused_with_400(forwarded):
    receiver = forwarded[0]
    wrong_type = b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}'
    for body in (b"{not json", b"[1, 2]", wrong_type):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{receiver.http_port}/v1/logs", data=body,
                headers={"Content-Type": "application/json"}), timeout=10)
        assert refused.value.code == 400
        assert refused.value.headers["Content-Type"] == "application/json"
        assert "ExportLogsServiceRequest" in json.loads(refused.value.read())["message"]


def test_metrics_show_each_destination(forwarded):
    receiver, _, sent, _ = forwarded
    text = urllib.request.urlopen(f"http://127.0.0.1:{receiver.http_port}/metrics", timeout=10).read().decode()
    for name in ("grpc-sink", "http-sink"):
        sent_line = next(line for line in text.splitlines()
                         if line.startswith(f'llmcost_forward_sent_items_total{{destination="{name}"}}'))
        assert int(sent_line.split()[-1]) >= len(sent)
    assert "llmcost_forward_held_spans 0" in text.splitlines()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_nothing_lost_while_the_destination_is_down_and_the_receiver_killed(tmp_path):
    """The destination is down for 30 s; meanwhile the receiver is killed -9 and started again."""
    sink = Sink(tmp_path / "late.out", grpc_port=_free_port())
    receiver = Receiver(tmp_path / "data", _config(_destinations(sink)))
    down_since = time.monotonic()
    receiver.start()
    try:
        sent = run_app(receiver.grpc_port, traces=5, tag="before")
        time.sleep(3)  # the LLM calls' traces get priced; nothing can be delivered
        receiver.kill()
        receiver.start()
        sent += run_app(receiver.grpc_port, traces=5, tag="after")
        receiver.kill()  # at once: LLM call spans still wait for their price, in the spool and the queue
        receiver.start()
        sent += run_app(receiver.grpc_port, traces=5, tag="last")
        time.sleep(max(0.0, 30 - (time.monotonic() - down_since)))
        assert sink.exports("traces") == []
        sink.start()
        arrived = sink.wait_for_spans(len(sent), timeout=90)
        time.sleep(2)  # anything sent twice would arrive now
        arrived = sink.spans()
        assert Counter((trace, span) for trace, span, _, _ in arrived) == Counter(ids(span) for span in sent)
        priced = [attributes for _, _, name, attributes in arrived if name in LLM_NAMES]
        assert len(priced) == 30 and all(a["otel_llmcost.cost.status"] == "priced" for a in priced)
    finally:
        if receiver.process.poll() is None:
            receiver.kill()
        sink.stop()


def test_store_none_is_a_pure_pricing_processor(tmp_path, forwarded):
    """`serve --store none`: nothing stored, every span forwarded, with the same costs as a storing receiver."""
    _, _, _, arrived = forwarded
    stored_costs = {(name, attributes["gen_ai.usage.output_tokens"]): attributes["otel_llmcost.cost_usd"]
                    for _, _, name, attributes in arrived[0] if name in LLM_NAMES}
    sink = Sink(tmp_path / "none.out").start()
    receiver = Receiver(tmp_path / "data", _config(_destinations(sink)), extra_args=("--store", "none")).start()
    try:
        sent = run_app(receiver.grpc_port, traces=6, tag="none")
        spans = sink.wait_for_spans(len(sent))
        assert Counter((trace, span) for trace, span, _, _ in spans) == Counter(ids(span) for span in sent)
        costs = {(name, attributes["gen_ai.usage.output_tokens"]): attributes["otel_llmcost.cost_usd"]
                 for _, _, name, attributes in spans if name in LLM_NAMES}
        assert costs == stored_costs
        assert not (tmp_path / "data" / "chdb").exists()
    finally:
        receiver.kill()
        sink.stop()


def test_a_queue_over_its_byte_bound_drops_its_oldest_spans_and_counts_them(tmp_path):
    """A destination down for good: the queue stays near max_queue_bytes, the dropped spans are counted, and
    once the destination is back every span not dropped arrives once."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    sink = Sink(tmp_path / "bound.out", grpc_port=_free_port())
    config = _config(_destinations(sink))
    config["forward"]["max_queue_bytes"] = 1024 * 1024  # segments of 128 KiB
    receiver = Receiver(tmp_path / "data", config).start()
    try:
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}",
                                                                        insecure=True)))
        tracer = provider.get_tracer("bulk")
        for index in range(400):  # ~4 MB of spans, 4x the bound
            with tracer.start_as_current_span(f"bulk {index}", attributes={"payload": "x" * 10_000}):
                pass
            if index % 50 == 49:
                provider.force_flush()
                time.sleep(0.6)  # the keeper rotates and bounds twice a second
        provider.shutdown()
        time.sleep(1.5)
        figures = _metrics(receiver)
        dropped = int(figures['llmcost_forward_dropped_items_total{destination="grpc-sink"}'])
        assert 0 < dropped < 400
        assert figures["llmcost_forward_queue_bytes"] <= 1.3 * 1024 * 1024
        sink.start()
        arrived = sink.wait_for_spans(400 - dropped)
        time.sleep(1)
        arrived = sink.spans()
        assert len(arrived) == len({span for _, span, _, _ in arrived}) == 400 - dropped
        # the oldest went: what arrived is the newest
        assert {name for _, _, name, _ in arrived} == {f"bulk {index}" for index in range(dropped, 400)}
    finally:
        receiver.kill()
        sink.stop()


def _metrics(receiver: Receiver) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{receiver.http_port}/metrics", timeout=10).read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_every_path_refuses_alike(forwarded):
    """Traces, metrics, logs and events take a body the same way (one piece): an encoding we cannot undo
    is 415 on each, as an unknown content type is on the OTLP paths."""
    base = f"http://127.0.0.1:{forwarded[0].http_port}"
    for path in ("/v1/traces", "/v1/metrics", "/otlp/v1/logs", "/v1/events"):
        assert post(base + path, b"x", "application/x-protobuf", encoding="br")[0] == 415, path
    for path in ("/v1/traces", "/v1/metrics", "/v1/logs"):
        assert post(base + path, b"x", "text/plain")[0] == 415, path
