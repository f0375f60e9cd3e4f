"""Fuzzing one real receiver with OTLP exports over HTTP (protobuf, JSON) and gRPC (issue 11 item 7).

Every request is answered in time with 200 or 400 / OK or INVALID_ARGUMENT (never a retryable code for
bad input), the process stays up, and the good spans of a mixed export are stored. FUZZ_EXAMPLES sets the
examples per property (`python bench/faults.py --fuzz N` for a longer run). Values past what a column
holds (counts >= 2**64, attempts > 65535) are drawn too: they are clamped or dead-lettered, never blocking.
"""

from __future__ import annotations

import json
import os
import threading
import time

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from conftest import FAST_CONFIG, Receiver
from otlp_fuzz import (
    BAD_IDS,
    BAD_SPAN_IDS,
    BOUNDARY_COUNTS,
    BOUNDARY_DURATIONS,
    BOUNDARY_STARTS,
    EDITS,
    JSON_ANY_VALUES,
    JSON_IDS,
    MUTANT_ATTRIBUTES,
    PLACEHOLDER,
    READ_KEYS,
    TRANSPORTS,
    any_value,
    field,
    mutate,
    nested_json,
)
from payloads import llm_span, post, request, to_otlp_json

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))  # < 60 s in the suite on a busy 2-core machine
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
                suppress_health_check=[HealthCheck.too_slow])
ANSWER_SECONDS = 30  # "no hang": each request is answered within this
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF, JSON = "application/x-protobuf", "application/json"


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    shared = Receiver(tmp_path_factory.mktemp("fuzz") / "data", FAST_CONFIG).start()
    shared.log = []  # drained, so a talkative receiver never blocks on a full stderr pipe
    threading.Thread(target=_drain, args=(shared.process.stderr, shared.log), daemon=True).start()
    yield shared
    if shared.process.poll() is None:
        shared.kill()


def _drain(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


def good_calls(count: int = 2):
    """An app root span and `count` LLM calls beneath it, in a trace of their own."""
    trace_id = os.urandom(16)
    root = llm_span(trace_id, "gpt-4o-mini", 1, 1)
    del root.attributes[:]
    root.name, root.kind = "POST /chat", 2
    calls = [llm_span(trace_id, "gpt-4o-mini", 10 + i, 5, parent=root.span_id) for i in range(count)]
    return [*calls, root], [(trace_id.hex(), call.span_id.hex()) for call in calls]


def send(receiver: Receiver, transport: str, message) -> tuple[str, bytes]:
    """Export `message` as protobuf over HTTP or gRPC, or as OTLP/JSON over HTTP."""
    if transport == "json":
        return send_bytes(receiver, "http", json.dumps(to_otlp_json(message)).encode(), JSON)
    return send_bytes(receiver, transport, message.SerializeToString(), PROTOBUF)


def send_bytes(receiver: Receiver, transport: str, body: bytes, content_type: str) -> tuple[str, bytes]:
    """('200'|'400'|... or a gRPC code name, answer body); raises on a hang (timeout)."""
    if transport == "grpc":
        with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
            try:
                return "OK", channel.unary_unary(EXPORT)(body, timeout=ANSWER_SECONDS)
            except grpc.RpcError as error:
                return error.code().name, error.details().encode()
    status, _, answer = post(receiver.http_url, body, content_type)
    return str(status), answer


def assert_alive(receiver: Receiver) -> None:
    assert receiver.process.poll() is None, "receiver died: " + "".join(receiver.log[-40:])


def assert_stored(receiver: Receiver, acknowledged: dict[tuple[str, str], str], within: float = 60.0) -> None:
    """Eventually every acknowledged good call is in llm_usage exactly once; `acknowledged` maps each call to
    the example that sent it, named when one is missing along with the receiver's log lines on its trace."""
    wanted, rows = set(acknowledged), []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        rows = _stored_rows(receiver, {t for t, _ in wanted})
        if wanted <= set(rows):
            break
        time.sleep(1)
    missing = sorted(wanted - set(rows))
    examples = sorted({acknowledged[key] for key in missing})
    logged = [line for line in receiver.log if any(trace in line for trace, _ in missing)]
    assert not missing, (f"{len(missing)} of {len(wanted)} acknowledged good calls not stored: {missing[:3]}; sent "
                         f"by {examples[:3]}; log: {logged[:3]}")
    duplicated = [key for key in set(rows) if rows.count(key) > 1]
    assert not duplicated, f"stored twice: {duplicated[:3]}"


def _stored_rows(receiver: Receiver, trace_ids: set[str]) -> list[tuple[str, str]]:
    listed = ",".join(f"'{t}'" for t in sorted(trace_ids))  # hex from os.urandom: nothing to escape
    return [(row["trace_id"], row["span_id"]) for row in
            receiver.sql(f"SELECT trace_id, span_id FROM llmcost.llm_usage WHERE trace_id IN ({listed})")]


def mixed_export(mutant, on_resource: dict | None = None):
    """Good calls, then `mutant` in its own trace (under its own resource when `on_resource` is given)."""
    spans, keys = good_calls()
    message = request(*spans)
    if on_resource is None:
        message.resource_spans[0].scope_spans[0].spans.append(mutant)
    else:
        resource_spans = message.resource_spans.add()
        resource_spans.resource.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in on_resource.items())
        resource_spans.scope_spans.add().spans.append(mutant)
    return message, keys


def with_attributes(span, attributes: dict):
    """After the span's own values: the decoder keeps the last of a repeated key."""
    span.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in attributes.items())
    return span


def test_mutated_attribute_values_keep_the_good_spans(receiver):
    """The mutated values sit on a call of its own trace, on its resource, on a call beside the good ones,
    or on the good calls' root span (which attribution reads for every call beneath it)."""
    acknowledged = {}

    @FUZZ
    @given(transport=TRANSPORTS, attributes=MUTANT_ATTRIBUTES,
           where=st.sampled_from(["own trace", "resource", "same trace", "root"]))
    def example(transport, attributes, where):
        mutant = llm_span(os.urandom(16), "gpt-4o-mini", 3, 3)
        if where == "own trace":
            message, keys = mixed_export(with_attributes(mutant, attributes))
        elif where == "resource":
            message, keys = mixed_export(mutant, attributes)
        else:
            message, keys = mixed_export(mutant)
            good = message.resource_spans[0].scope_spans[0].spans
            root = good[len(keys)]
            if where == "root":
                with_attributes(root, attributes)
            else:
                mutant.trace_id, mutant.parent_span_id = root.trace_id, root.span_id
                good[-1].CopyFrom(with_attributes(mutant, attributes))
        code, answer = send(receiver, transport, message)
        assert code in ("200", "OK"), (transport, code, answer[:300])
        assert_alive(receiver)
        acknowledged.update(dict.fromkeys(keys, repr((transport, where, attributes))))

    example()
    assert_stored(receiver, acknowledged)


def test_span_fields_at_their_boundaries_keep_the_good_calls(receiver):
    """Times, durations and counts at their types' limits, on a call of its own trace beside good calls:
    the export is answered 200 and the good calls are stored (the mutant stored with its changes noted, or
    rejected with a reason), whatever the store's columns hold."""
    acknowledged = {}

    @FUZZ
    @given(transport=TRANSPORTS, start=BOUNDARY_STARTS, duration=BOUNDARY_DURATIONS, input_tokens=BOUNDARY_COUNTS,
           output_tokens=BOUNDARY_COUNTS, attempt=st.sampled_from([1, 2 ** 16, 2 ** 63 - 1]))
    def example(transport, start, duration, input_tokens, output_tokens, attempt):
        mutant = llm_span(os.urandom(16), "gpt-4o-mini", input_tokens, output_tokens, **{"llm.attempt": attempt})
        if start is not None:
            mutant.start_time_unix_nano = start
        if duration is None:
            mutant.end_time_unix_nano = 2 ** 64 - 1
        else:
            mutant.end_time_unix_nano = min(mutant.start_time_unix_nano + duration, 2 ** 64 - 1)
        message, keys = mixed_export(mutant)
        code, answer = send(receiver, transport, message)
        assert code in ("200", "OK"), (transport, code, answer[:300])
        assert_alive(receiver)
        acknowledged.update(dict.fromkeys(keys, repr((transport, start, duration, input_tokens, output_tokens))))

    example()
    assert_stored(receiver, acknowledged)


def test_bad_ids_reject_only_their_span(receiver):
    acknowledged = {}

    @FUZZ
    @given(transport=TRANSPORTS, trace_id=BAD_IDS, span_id=BAD_SPAN_IDS, parent=st.sampled_from([b"", b"\x01" * 3]))
    def example(transport, trace_id, span_id, parent):
        mutant = llm_span(trace_id, "gpt-4o-mini", 3, 3, parent=parent)
        mutant.span_id = span_id
        message, keys = mixed_export(mutant)
        code, answer = send(receiver, transport, message)
        assert code in ("200", "OK"), (transport, code, answer[:300])
        bad = len(trace_id) != 16 or not any(trace_id) or len(span_id) != 8 or not any(span_id) or parent
        rejected = (int(json.loads(answer).get("partialSuccess", {}).get("rejectedSpans", 0)) if transport == "json"
                    else ExportTraceServiceResponse.FromString(answer).partial_success.rejected_spans)
        assert rejected == int(bool(bad)), (transport, answer[:300])
        acknowledged.update(dict.fromkeys(keys, repr((transport, trace_id, span_id, parent))))

    example()
    assert_stored(receiver, acknowledged)


def json_export(mutate_span) -> tuple[bytes, list[tuple[str, str]]]:
    """A mixed export as OTLP/JSON whose last span (the mutant, in its own trace) `mutate_span` edits."""
    message, keys = mixed_export(llm_span(os.urandom(16), "gpt-4o-mini", 3, 3))
    document = to_otlp_json(message)
    mutate_span(document["resourceSpans"][0]["scopeSpans"][0]["spans"][-1])
    return json.dumps(document).encode(), keys


def check_json_edits(receiver: Receiver, drawn, edit) -> None:
    """Each drawn tuple edits the mutant span of a mixed OTLP/JSON export: the answer is 200 and the good
    calls are stored."""
    acknowledged = {}

    @FUZZ
    @given(values=drawn)
    def example(values):
        body, keys = json_export(lambda span: edit(span, *values))
        status, _, answer = post(receiver.http_url, body, JSON)
        assert status == 200, (values, status, answer[:300])
        acknowledged.update(dict.fromkeys(keys, repr(values)))

    example()
    assert_stored(receiver, acknowledged)


def test_json_ids_of_any_shape_reject_only_their_span(receiver):
    check_json_edits(receiver, st.tuples(st.sampled_from(["traceId", "spanId", "parentSpanId"]), JSON_IDS),
                     lambda span, field, value: span.__setitem__(field, value))


def test_an_ill_typed_json_value_rejects_only_its_span(receiver):
    check_json_edits(receiver, st.tuples(st.sampled_from(READ_KEYS), JSON_ANY_VALUES),
                     lambda span, key, value: span["attributes"].append({"key": key, "value": value}))


def test_a_superscript_attempt_keeps_the_calls_of_its_trace(receiver):
    message, keys = mixed_export(llm_span(os.urandom(16), "gpt-4o-mini", 3, 3))
    root = message.resource_spans[0].scope_spans[0].spans[len(keys)]
    with_attributes(root, {"llm.attempt": "²"})
    code, answer = send(receiver, "protobuf", message)
    assert code == "200", answer[:300]
    assert_stored(receiver, dict.fromkeys(keys, "llm.attempt '²' on the root span"), within=10)


def test_deeply_nested_json_is_bad_input(receiver):
    body, _ = json_export(lambda span: span["attributes"].append({"key": "metadata", "value": {"intValue": 0}}))
    body = body.replace(b'{"intValue": 0}', nested_json(10_000))
    status, _, answer = post(receiver.http_url, body, JSON)
    assert_alive(receiver)
    assert status in (200, 400), (status, answer[:300])


def test_a_ten_thousand_digit_json_number_is_bad_input(receiver):
    body, _ = json_export(lambda span: span["attributes"].append({"key": "gen_ai.usage.input_tokens",
                                                                  "value": {"intValue": 0}}))
    body = body.replace(b'{"intValue": 0}', b'{"intValue": 1' + b"0" * 10_000 + b"}")
    status, _, answer = post(receiver.http_url, body, JSON)
    assert_alive(receiver)
    assert status in (200, 400), (status, answer[:300])


@pytest.mark.parametrize("transport", ["protobuf", "grpc"])
def test_deeply_nested_protobuf_is_bad_input(receiver, transport):
    value = AnyValue(string_value="leaf").SerializeToString()
    for _ in range(10_000):  # AnyValue.array_value (5) -> ArrayValue.values (1) -> AnyValue ...
        value = field(5, field(1, value))
    mutant = llm_span(os.urandom(16), "gpt-4o-mini", 3, 3).SerializeToString() + field(9, field(1, b"metadata")
                                                                                      + field(2, value))
    message, _ = mixed_export(llm_span(os.urandom(16), "gpt-4o-mini", 3, 3))
    # Request.resource_spans (1) -> ResourceSpans.scope_spans (2) -> ScopeSpans.spans (2): appended, as
    # protobuf concatenation allows.
    body = message.SerializeToString() + field(1, field(2, field(2, mutant)))
    code, answer = send_bytes(receiver, transport, body, PROTOBUF)
    assert_alive(receiver)
    assert code in ("400", "INVALID_ARGUMENT"), (code, answer[:300])


def test_byte_mutations_get_an_answer_that_is_not_retryable(receiver):
    """Last on the shared receiver: a mutated body may carry values the properties above keep out."""

    @FUZZ
    @given(transport=TRANSPORTS, edits=EDITS, non_utf8=st.binary(min_size=len(PLACEHOLDER.encode()),
                                                                 max_size=len(PLACEHOLDER.encode())))
    def example(transport, edits, non_utf8):
        mutant = llm_span(os.urandom(16), "gpt-4o-mini", 3, 3, **{"gen_ai.request.model": PLACEHOLDER})
        message, _ = mixed_export(mutant)
        if transport == "json":
            body = mutate(json.dumps(to_otlp_json(message)).encode(), edits)
        else:  # a string of invalid UTF-8 as well: protobuf's own encoder cannot write one
            body = mutate(message.SerializeToString().replace(PLACEHOLDER.encode(), non_utf8), edits)
        code, answer = send_bytes(receiver, "http" if transport == "json" else transport, body,
                                  JSON if transport == "json" else PROTOBUF)
        assert code in ("200", "400", "OK", "INVALID_ARGUMENT"), (transport, edits, code, answer[:300])
        assert_alive(receiver)

    example()
