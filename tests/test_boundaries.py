"""Every field of a span at its type's boundaries, through the whole receiver (issue 16 item 3): times in
1677, 1970, 2100, 2106, 2262, 2299 and 2554, counts at 2**32, 2**63 and 2**64, NaN, 1 MB strings, an integer
operation name, a backfill over 160 days and one export spanning 129 years. Each poison export is followed by
a good call that must be stored; the receiver is stopped and started again, and stores the next calls too.
Every poison ends up accounted for: stored (changes noted), or refused with a reason the exporter is told.
"""

from __future__ import annotations

import json
import math
import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from payloads import llm_span, post, request, to_otlp_json
from test_receiver_ops import get, metrics

_NS = 10 ** 9
_MB = "x" * 1_000_000
# WARNING: the receiver's stderr is read only when it stops, so it must stay under the pipe's 64 KB
QUICK = {"log_level": "WARNING", "attribution": {"trace_wait_seconds": 0.2, "max_trace_wait_seconds": 1.0}}


def _ns(*moment: int) -> int:
    return int(datetime(*moment, tzinfo=timezone.utc).timestamp()) * _NS


#: start time (ns since 1970) -> whether the store keeps it as sent (else: the ingestion time, noted)
TIMES = {
    "1970+1ns": (1, True), "2099-end": (_ns(2100, 1, 1) - 1, True), "2100": (_ns(2100, 1, 1), False),
    "2106": (2 ** 32 * _NS, False),
    "2262-max": (2 ** 63 - 1, False), "2262+1ns": (2 ** 63, False), "2299": (_ns(2299, 12, 31, 23, 59, 59), False),
    "2300": (_ns(2300, 1, 1), False), "2554": (2 ** 64 - 1, False),
}
#: name -> attributes of a call (its counts 10/5 unless given)
VALUES = {
    "count_1e9": {"gen_ai.usage.input_tokens": 10 ** 9},  # the largest count billed
    "count_2_32": {"gen_ai.usage.input_tokens": 2 ** 32},
    "count_2_63-1": {"gen_ai.usage.input_tokens": 2 ** 63 - 1},
    "count_2_63": {"gen_ai.usage.input_tokens": str(2 ** 63)},
    "count_2_64": {"gen_ai.usage.output_tokens": str(2 ** 64)},
    "count_2_64_float": {"gen_ai.usage.input_tokens": float(2 ** 64)},
    "count_nan": {"gen_ai.usage.input_tokens": math.nan},
    "count_inf": {"gen_ai.usage.output_tokens": math.inf},
    "attempt_2_63": {"llm.attempt": 2 ** 63 - 1},
    "ttft_nan": {"gen_ai.response.time_to_first_chunk": math.nan},
    "ttft_inf": {"gen_ai.response.time_to_first_chunk": -math.inf},
    "emitter_cost_nan": {"litellm.call_id": "c1", "gen_ai.cost.total_cost": math.nan},
    "model_1mb": {"gen_ai.request.model": _MB},
    "tenant_1mb": {"tenant.id": _MB},
    "feature_1mb": {"feature.name": _MB},
    "request_1mb": {"request.id": _MB},
    "operation_int": {"gen_ai.operation.name": 7},
}
REFUSED = {"count_nan", "count_inf", "operation_int"}  # not a count / not an operation: rejected spans


def _export(receiver, message, transport: str = "protobuf") -> dict:
    """Send; returns the partial success ({} when all accepted)."""
    if transport == "json":
        status, _, body = post(receiver.http_url, json.dumps(to_otlp_json(message)).encode(), "application/json")
    else:
        status, _, body = post(receiver.http_url, message.SerializeToString(), "application/x-protobuf")
    assert status == 200, body[:300]
    if transport == "json":
        return json.loads(body).get("partialSuccess", {})
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    partial = ExportTraceServiceResponse.FromString(body).partial_success
    return {"rejectedSpans": partial.rejected_spans, "errorMessage": partial.error_message} if \
        partial.rejected_spans else {}


def _good(receiver, count: int = 1) -> list[str]:
    spans = [llm_span(os.urandom(16), "gpt-4o-mini", 100, 10) for _ in range(count)]
    assert _export(receiver, request(*spans)) == {}
    return [span.span_id.hex() for span in spans]


def _at(span, start_ns: int):
    span.start_time_unix_nano, span.end_time_unix_nano = start_ns, min(start_ns + 10 ** 6, 2 ** 64 - 1)
    return span


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One receiver given every boundary, each followed by a good call; restarted; then 100 more calls."""
    from conftest import FAST_CONFIG, Receiver

    data_dir = tmp_path_factory.mktemp("boundaries") / "data"
    receiver = Receiver(data_dir, {**FAST_CONFIG, **QUICK}).start()
    sent, answers, good = {}, {}, []
    try:
        for name, (start, _) in TIMES.items():
            for transport in ("protobuf", "json"):
                span = _at(llm_span(os.urandom(16), "gpt-4o-mini", 10, 5), start)
                sent[f"{name}/{transport}"] = span.span_id.hex()
                answers[f"{name}/{transport}"] = _export(receiver, request(span), transport)
                good += _good(receiver)
        for name, attributes in VALUES.items():
            span = llm_span(os.urandom(16), "gpt-4o-mini", 10, 5, **attributes)
            sent[name] = span.span_id.hex()
            answers[name] = _export(receiver, request(span))
            good += _good(receiver)
        huge = llm_span(os.urandom(16), "gpt-4o-mini", 10, 5)
        huge.name, huge.status.message = _MB, _MB
        sent["span_name_1mb"] = huge.span_id.hex()
        answers["span_name_1mb"] = _export(receiver, request(huge, service=_MB))
        good += _good(receiver)
        # 1677-09-21 (the earliest int64 nanosecond): only OTLP/JSON can say it (protobuf's field is unsigned)
        document = to_otlp_json(request(llm_span(os.urandom(16), "gpt-4o-mini", 10, 5)))
        document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"] = str(-2 ** 63)
        status, _, _ = post(receiver.http_url, json.dumps(document).encode(), "application/json")
        assert status in (200, 400)
        good += _good(receiver)
        # A backfill: 160 calls over 160 days in one export; one export spanning 1971..2099, a call a year.
        now = time.time_ns()
        backfill = [_at(llm_span(os.urandom(16), "gpt-4o-mini", 10, 5), now - day * 86_400 * _NS)
                    for day in range(160)]
        years = [_at(llm_span(os.urandom(16), "gpt-4o-mini", 10, 5), _ns(year, 6, 1)) for year in range(1971, 2100)]
        for spans in (backfill, years):
            assert _export(receiver, request(*spans)) == {}
        good += _good(receiver, 100)
        expected = dict.fromkeys(good, "good") | {span.span_id.hex(): "backfill" for span in backfill} | {
            span.span_id.hex(): "years" for span in years} | {
            span_id: name for name, span_id in sent.items() if name not in REFUSED}
        _wait_for(receiver, expected)
        before_restart = metrics(receiver)
        ready = get(receiver, "/readyz")
        first_log = receiver.stop()
        receiver.start()
        after = _good(receiver, 100)
        _wait_for(receiver, dict.fromkeys(after, "after the restart"))
        yield {"receiver": receiver, "sent": sent, "answers": answers, "good": good + after, "metrics": before_restart,
               "ready": ready, "backfill": backfill, "years": years, "log": first_log + receiver.stop()}
    finally:
        if receiver.process.poll() is None:
            receiver.kill()


def _wait_for(receiver, expected: dict[str, str], within: float = 120.0) -> None:
    """Until every span id of `expected` (id -> what it is) is in llm_usage; else names the missing."""
    stored: set[str] = set()
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        stored = {row["span_id"] for row in receiver.sql("SELECT span_id FROM llmcost.llm_usage")}
        if set(expected) <= stored:
            return
        time.sleep(0.5)
    missing = sorted({expected[span_id] for span_id in set(expected) - stored})
    raise AssertionError(f"{len(set(expected) - stored)} of {len(expected)} calls not stored: {missing}")


def _rows(receiver, *span_ids: str) -> dict[str, dict]:
    listed = ",".join(f"'{span_id}'" for span_id in span_ids)
    return {row["span_id"]: row for row in receiver.sql(
        f"SELECT span_id, ts, cost_status, cost_usd, cost_note, input_tokens, output_tokens, attempt, ttft_ms,"
        f" request_model, tenant_id, feature, request_id FROM llmcost.llm_usage WHERE span_id IN ({listed})")}


def test_every_good_call_is_stored_once_across_the_restart(run):
    stored = run["receiver"].sql("SELECT span_id, count() AS n FROM llmcost.llm_usage GROUP BY span_id")
    counts = {row["span_id"]: row["n"] for row in stored}
    assert all(counts.get(span_id) == 1 for span_id in run["good"])
    assert not list((run["receiver"].data_dir / "spool").rglob("*.jsonl"))
    assert "Traceback" not in run["log"]


def test_no_value_reached_the_store_unfit_and_the_receiver_stayed_ready(run):
    failures = [line for line in run["log"].splitlines() if "WARNING" in line or "ERROR" in line]
    assert run["metrics"]["llmcost_insert_failures_total"] == 0, (run["ready"], failures[:5])
    assert run["metrics"]["llmcost_rows_dead_lettered_total"] == 0, failures[:5]
    assert run["ready"] == (200, "ready\n")


def test_start_times_outside_what_the_store_keeps_become_the_ingestion_time(run):
    rows = _rows(run["receiver"], *(run["sent"][f"{name}/{t}"] for name in TIMES for t in ("protobuf", "json")))
    for name, (start, kept) in TIMES.items():
        for transport in ("protobuf", "json"):
            row = rows[run["sent"][f"{name}/{transport}"]]
            ts = datetime.fromisoformat(row["ts"]).replace(tzinfo=timezone.utc)
            if kept:
                assert abs(ts.timestamp() * _NS - start) < 2_000, (name, row["ts"])  # float seconds
            else:
                assert abs(ts - datetime.now(timezone.utc)) < timedelta(minutes=10), (name, row["ts"])
                assert "outside 1970-01-01..2099-12-31, the ingestion time stored" in row["cost_note"], name
                assert row["cost_status"] == "priced", (name, row)  # 1970: no price was in force yet


def test_every_span_is_in_otel_traces_with_a_time_its_columns_hold(run):
    receiver, sent = run["receiver"], run["sent"]
    # traces.ttl_days (30) drops the spans of 1970 and most of the backfill's
    recent = time.time_ns() - 29 * 86_400 * _NS
    wanted = {span_id: name for name, span_id in sent.items() if name not in REFUSED and not name.startswith("1970")}
    wanted |= {span.span_id.hex(): "backfill" for span in run["backfill"] if span.start_time_unix_nano > recent}
    listed = ",".join(f"'{span_id}'" for span_id in wanted)
    traces = receiver.sql(f"SELECT SpanId, Timestamp, SpanAttributes['otel_llmcost.note'] AS note "
                          f"FROM llmcost.otel_traces WHERE SpanId IN ({listed})")
    missing = sorted(wanted[span_id] for span_id in set(wanted) - {row["SpanId"] for row in traces})
    assert not missing
    notes = {row["SpanId"]: row["note"] for row in traces}
    assert notes[sent["2099-end/protobuf"]] == ""
    assert "Timestamp" in notes[sent["2262+1ns/protobuf"]] and "the ingestion time stored" in notes[sent["2554/json"]]


def test_rollups_put_every_call_in_the_hour_of_its_raw_row(run):
    receiver = run["receiver"]
    raw = receiver.sql("SELECT toStartOfHour(ts) AS hour, count() AS n FROM llmcost.llm_usage GROUP BY hour "
                       "ORDER BY hour")
    rolled = receiver.sql("SELECT hour, sum(calls) AS n FROM llmcost.usage_hourly GROUP BY hour ORDER BY hour")
    assert raw == rolled
    requests = receiver.sql("SELECT sum(calls) AS n FROM llmcost.requests")
    assert requests == [{"n": sum(row["n"] for row in raw)}]


def test_the_backfill_and_the_export_spanning_years_are_stored_at_their_times(run):
    ids = [span.span_id.hex() for span in run["backfill"] + run["years"]]
    rows = _rows(run["receiver"], *ids)
    assert len(rows) == 160 + 129
    for span in run["years"]:
        year = datetime.fromtimestamp(span.start_time_unix_nano // _NS, timezone.utc).year
        assert rows[span.span_id.hex()]["ts"].startswith(f"{year}-06-01 00:00:00"), year


def test_counts_beyond_what_a_call_can_hold_are_flagged_not_billed(run):
    sent = run["sent"]
    rows = _rows(run["receiver"], *(sent[name] for name in VALUES if name not in REFUSED))
    assert rows[sent["count_1e9"]]["cost_status"] == "priced" and rows[sent["count_1e9"]]["cost_usd"] is not None
    for name in ("count_2_32", "count_2_63-1", "count_2_63", "count_2_64", "count_2_64_float"):
        row = rows[sent[name]]
        assert row["cost_status"] == "invalid_usage" and row["cost_usd"] is None, (name, row)
        assert "is beyond the 1,000,000,000 one call can hold, not priced" in row["cost_note"], (name, row)
    assert rows[sent["count_2_63"]]["input_tokens"] == 2 ** 63
    assert rows[sent["count_2_64"]]["output_tokens"] == 2 ** 64 - 1  # clamped to UInt64, noted
    assert rows[sent["attempt_2_63"]]["attempt"] == 65535
    assert rows[sent["ttft_nan"]]["cost_status"] == "priced" and rows[sent["ttft_nan"]]["ttft_ms"] is None


def test_text_of_a_megabyte_is_cut_to_its_column(run):
    sent = run["sent"]
    rows = _rows(run["receiver"], sent["model_1mb"], sent["tenant_1mb"], sent["feature_1mb"], sent["request_1mb"])
    assert len(rows[sent["model_1mb"]]["request_model"]) == 1024
    assert len(rows[sent["tenant_1mb"]]["tenant_id"]) <= 1024
    assert len(rows[sent["request_1mb"]]["request_id"]) <= 16 * 1024
    huge = run["receiver"].sql(f"SELECT length(SpanName) AS n FROM llmcost.otel_traces "
                               f"WHERE SpanId = '{sent['span_name_1mb']}'")
    assert huge == [{"n": 1024}]


def test_values_that_are_no_count_or_no_operation_are_refused_with_a_reason(run):
    answers = run["answers"]
    for name in REFUSED:
        assert int(answers[name]["rejectedSpans"]) == 1, (name, answers[name])
    assert "gen_ai.operation.name=7 is not an operation name" in answers["operation_int"]["errorMessage"]
    assert all(answers[name] == {} for name in VALUES if name not in REFUSED)
