"""Several ingest workers (receiver.workers): the same rows as one process, every span of a trace in one
worker, spools handed over when the count changes, and a killed worker losing nothing acknowledged."""

from __future__ import annotations

import json
import os
import signal
import time
from decimal import Decimal
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_llmcost.decode import parse_json
from otel_llmcost.errors import DecodeError
from otel_llmcost.ingest.spooldirs import adopt_orphans, worker_spool_dir
from otel_llmcost.receive.route import owner, split_by_trace
from payloads import post
from query_clients import api_get
from test_dialect_fixtures import EXPECTED, FIXTURES, PRICE_BOOK, ROWS

#: Every stored value but the time of the insert; rows in a fixed order.
USAGE = "SELECT * EXCEPT (ingested_at) FROM llmcost.llm_usage ORDER BY trace_id, span_id FORMAT JSONEachRow"
SPANS = "SELECT * FROM llmcost.otel_traces ORDER BY TraceId, SpanId FORMAT JSONEachRow"
DEAD = "SELECT * FROM llmcost.rejected_calls ORDER BY trace_id, span_id, reason FORMAT JSONEachRow"
#: Waits under which a fixture's exports meet in one release of each trace whatever the machine's load.
LATE_EXPORTS_MEET = {"trace_wait_seconds": 10.0, "max_trace_wait_seconds": 60.0, "root_settle_seconds": 10.0}


def _exports() -> list[tuple[bytes, str]]:
    """Every captured fixture's exports, alternately as OTLP/JSON and as binary protobuf (split on the wire)."""
    bodies = []
    for path in sorted(FIXTURES.glob("*.json")):
        for index, export in enumerate(json.loads(path.read_text())["exports"]):
            body = json.dumps(export).encode()
            if index % 2:
                bodies.append((body, "application/json"))
            else:
                bodies.append((parse_json(body)[0].SerializeToString(), "application/x-protobuf"))
    return bodies


def test_fixtures_give_the_same_rows_through_one_and_three_workers(receiver_factory, tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICE_BOOK)
    # Nothing is flushed before the stop: a trace's spans that came in several exports (a proxy's and its
    # app's) meet in one release whatever the machine's load, so both receivers build rows from the same groups.
    config = {"pricing": {"price_books": [str(prices)]}, "store": {"flush_interval_seconds": 3600},
              "attribution": {"trace_wait_seconds": 0.5, "max_trace_wait_seconds": 600.0}}
    one = receiver_factory({**config, "receiver": {"workers": 1}})
    three = receiver_factory({**config, "receiver": {"workers": 3}})  # more workers than cores: routing is modulo 3
    for body, content_type in _exports():
        for receiver in (one, three):
            status, _, answer = post(receiver.http_url, body, content_type)
            assert status == 200, answer
    time.sleep(1.0)  # traces whose missing parents are remote are released at the stop too (trace_wait_seconds)
    for receiver in (one, three):
        receiver.stop()
    assert not list((three.data_dir / "spool").glob("*.jsonl")), "three workers spool in worker-<n> only"
    for query in (USAGE, SPANS, DEAD):
        rows_one, rows_three = one.sql(query), three.sql(query)
        assert rows_one == rows_three
    assert len(one.sql(USAGE)) > 300  # every fixture's calls, not an empty comparison


def _request(traces: int, spans_per_trace: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.30.0")
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "shop"
    for scope_name in ("http", "openai"):
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = scope_name
        for trace in range(traces):
            for number in range(spans_per_trace):
                span = scope_spans.spans.add(name=f"{scope_name} {number}", kind=Span.SPAN_KIND_CLIENT)
                span.trace_id = bytes([trace]) * 16
                span.span_id = bytes([number + 1, len(scope_name)]) * 4
                span.attributes.add(key="n").value.int_value = number
    return request


def _spans(body: bytes | None) -> list[tuple[bytes, bytes, bytes, bytes]]:
    """(resource, scope, trace id, span) of every span in an export."""
    if body is None:
        return []
    request = ExportTraceServiceRequest.FromString(body)
    return [(rs.resource.SerializeToString(), ss.scope.SerializeToString(), span.trace_id, span.SerializeToString())
            for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_proxys_export_after_the_apps_root_still_merges_with_its_call(workers, receiver_factory, tmp_path):
    """The app's export holds each trace's root; the LLM proxy's spans of the same calls come in a later export
    (its own exporter). Released at the root's arrival, the app's calls were stored before the proxy's spans
    came, and the merged cache counts were lost (the full suite with 2 workers, where the extra hop made the
    gap longer than a flush interval; one process now and then under load). A trace with a call now waits
    root_settle_seconds of quiet after its root."""
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICE_BOOK)
    receiver = receiver_factory({"pricing": {"price_books": [str(prices)]}, "receiver": {"workers": workers},
                                 "attribution": LATE_EXPORTS_MEET})
    app, proxy = json.loads((FIXTURES / "litellm-proxy.json").read_text())["exports"]
    for export in (app, proxy):
        status, _, answer = post(receiver.http_url, json.dumps(export).encode(), "application/json")
        assert status == 200, answer
        time.sleep(1.0)  # five flush intervals (0.2 s) between the app's export and the proxy's
    receiver.stop()
    by_scenario: dict[str, list[tuple]] = {}
    for row in receiver.sql(ROWS):
        by_scenario.setdefault(row["request_id"], []).append(
            (row["attempt"], row["status"], row["operation"], row["input_tokens"], row["cache_read_tokens"],
             row["cache_write_tokens"], row["output_tokens"], row["reasoning_tokens"]))
    assert by_scenario == EXPECTED["litellm-proxy"]


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_an_export_is_split_by_trace_with_every_span_once_under_its_resource_and_scope(workers):
    request = _request(traces=20, spans_per_trace=5)
    parts = split_by_trace(request.SerializeToString(), workers)
    assert len(parts) == workers
    for worker, part in enumerate(parts):
        assert all(owner(trace_id, workers) == worker for _, _, trace_id, _ in _spans(part))
        if part is not None:
            assert ExportTraceServiceRequest.FromString(part).resource_spans[0].schema_url.endswith("1.30.0")
    assert sorted(span for part in parts for span in _spans(part)) == sorted(_spans(request.SerializeToString()))


def test_the_wire_split_follows_fields_in_any_order_and_refuses_what_is_no_export():
    request = _request(traces=6, spans_per_trace=2)
    body = request.SerializeToString()
    # The trace id written after the other fields (legal protobuf, unusual): the scan still finds it.
    span = request.resource_spans[0].scope_spans[0].spans[0]
    late = Span()
    late.CopyFrom(span)
    late.ClearField("trace_id")
    reordered = body.replace(span.SerializeToString(), late.SerializeToString() + b"\x0a\x10" + span.trace_id)
    assert sorted(_spans(reordered)) == sorted(_spans(body))
    for one_export in (body, reordered):
        parts = split_by_trace(one_export, 3)
        assert sorted(s for part in parts for s in _spans(part)) == sorted(_spans(one_export))
    single = _request(traces=1, spans_per_trace=3).SerializeToString()
    assert [part for part in split_by_trace(single, 2) if part is not None] == [single]  # one worker: whole
    assert split_by_trace(b"", 2) == [None, None]
    with pytest.raises(DecodeError):
        split_by_trace(b"\x0a\xff\xff\xff\x0f junk", 2)


def _segment(directory: Path, number: int, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{number:012d}.jsonl").write_text(text)


def test_spool_segments_no_worker_reads_are_handed_to_one_that_does(tmp_path):
    spool = tmp_path / "spool"
    _segment(spool, 7, "root")  # left by one worker (or a release before workers)
    _segment(spool / "worker-1", 3, "w1")
    _segment(spool / "worker-3", 2, "w3")  # a fourth worker, gone
    assert adopt_orphans(str(spool), 2) == 2
    assert (spool / "worker-0" / "000000000001.jsonl").read_text() == "root"
    assert (spool / "worker-1" / "000000000004.jsonl").read_text() == "w3"  # 3 % 2, after its own segment 3
    assert not list(spool.glob("*.jsonl")) and not list((spool / "worker-3").iterdir())
    assert adopt_orphans(str(spool), 2) == 0
    assert adopt_orphans(str(spool), 1) == 3  # back to one process: everything in the spool directory itself
    assert sorted(path.read_text() for path in spool.glob("*.jsonl")) == ["root", "w1", "w3"]
    assert worker_spool_dir(str(spool), 0, 1) == str(spool)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _worker_pids(pid: int) -> list[int]:
    return [child for child in _children(pid)
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]


def test_a_killed_worker_is_started_again_and_nothing_acknowledged_is_lost(receiver_factory, tmp_path):
    (tmp_path / "alerts.yaml").write_text('budgets:\n  - {tenant: acme, usd: "100"}\n')
    receiver = receiver_factory({"receiver": {"workers": 2}, "alerts": {"file": str(tmp_path / "alerts.yaml")}})
    workers = _worker_pids(receiver.process.pid)
    assert len(workers) == 2
    acknowledged = set()

    def send(trace: int) -> None:
        request = ExportTraceServiceRequest()
        scope_spans = request.resource_spans.add().scope_spans.add()
        span = scope_spans.spans.add(name="chat gpt-4o-mini", kind=Span.SPAN_KIND_CLIENT)
        span.trace_id, span.span_id = trace.to_bytes(16, "big"), (trace + 1).to_bytes(8, "big")
        span.start_time_unix_nano = span.end_time_unix_nano = time.time_ns()
        for key, value in (("gen_ai.operation.name", "chat"), ("gen_ai.system", "openai"),
                           ("gen_ai.request.model", "gpt-4o-mini"), ("tenant.id", "acme")):
            span.attributes.add(key=key).value.string_value = value
        span.attributes.add(key="gen_ai.usage.input_tokens").value.int_value = 10
        status, _, _ = post(receiver.http_url, request.SerializeToString(), "application/x-protobuf")
        if status == 200:
            acknowledged.add(f"{trace:032x}")
        else:
            assert status == 503

    for trace in range(1, 41):
        send(trace)
    os.kill(workers[0], signal.SIGKILL)
    for trace in range(41, 81):
        send(trace)
    deadline = time.monotonic() + 60
    while len(_worker_pids(receiver.process.pid)) < 2 or workers[0] in _worker_pids(receiver.process.pid):
        assert time.monotonic() < deadline, "the killed worker was not started again"
        time.sleep(0.2)
    for trace in range(81, 121):
        status = 503
        while status != 200 and time.monotonic() < deadline:  # until the new worker has replayed its spool
            send(trace)
            status = 200 if f"{trace:032x}" in acknowledged else 503
    # Budget status answers from the spend the owner recorded with each worker's INSERT: after a worker was
    # killed and its spool replayed, what the table holds, counted once.
    secret = json.loads((receiver.data_dir / "receiver.json").read_text())["query_secret"]
    month = "toStartOfMonth(toDate(now('UTC')))"
    stored_spend, answered = Decimal(0), None
    while time.monotonic() < deadline + 60 and not (answered == stored_spend and len(receiver.sql(
            "SELECT trace_id FROM llmcost.llm_usage FORMAT JSONEachRow")) >= len(acknowledged)):
        time.sleep(0.5)
        [row] = receiver.sql(f"SELECT toString(sum(cost_usd)) AS spent FROM llmcost.llm_usage WHERE tenant_id = "
                             f"'acme' AND ts >= {month} FORMAT JSONEachRow")
        stored_spend, answered = Decimal(row["spent"]), _spent(receiver.query_port, secret, "acme")
    assert answered == stored_spend > 0
    log = receiver.stop()
    assert "ingest worker" in log and "starting it again" in log
    stored = [row["trace_id"] for row in receiver.sql("SELECT trace_id FROM llmcost.llm_usage FORMAT JSONEachRow")]
    assert sorted(stored) == sorted(set(stored)), "a call stored twice"
    assert acknowledged <= set(stored)
    assert len(acknowledged) >= 80



def _spent(port: int, secret: str, tenant: str) -> Decimal:
    """The tenant's month as budget status answers it."""
    status, body = api_get(port, "/api/v1/budgets/status", secret, tenant=tenant)
    assert status == 200, body
    return Decimal(next(b["spent_usd"] for b in body["budgets"] if b["period"] == "monthly"))
