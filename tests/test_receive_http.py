"""OTLP/HTTP wire behaviour against the real receiver: encodings, compression, errors, partial success."""

from __future__ import annotations

import gzip
import json
import os

from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from payloads import json_body, llm_span, post, request, to_otlp_json


def test_json_with_hex_ids_and_string_int64s_is_stored(receiver_factory):
    receiver = receiver_factory()
    trace_id = os.urandom(16)
    document = to_otlp_json(request(llm_span(trace_id, "gpt-4o-mini", 100, 20)))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert isinstance(span["startTimeUnixNano"], str)  # int64 as a decimal string, as OTLP/JSON sends it
    span["someFutureField"] = {"nested": True}  # unknown fields must be ignored
    status, content_type, body = post(receiver.http_url, json_body(document), "application/json; charset=utf-8")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {}  # full success: partial_success unset
    receiver.stop()
    [row] = receiver.sql("SELECT trace_id, input_tokens, output_tokens FROM llmcost.llm_usage")
    assert row == {"trace_id": trace_id.hex(), "input_tokens": 100, "output_tokens": 20}


def test_gzip_protobuf_is_stored(receiver_factory):
    receiver = receiver_factory()
    body = gzip.compress(request(llm_span(os.urandom(16), "gpt-4o-mini", 7, 3)).SerializeToString())
    status, content_type, answer = post(receiver.http_url, body, "application/x-protobuf", encoding="gzip")
    assert (status, content_type) == (200, "application/x-protobuf")
    assert not ExportTraceServiceResponse.FromString(answer).HasField("partial_success")
    receiver.stop()
    assert receiver.sql("SELECT input_tokens FROM llmcost.llm_usage") == [{"input_tokens": 7}]


def test_mixed_good_and_bad_spans_store_the_good_and_count_the_bad(receiver_factory):
    receiver = receiver_factory()
    trace_id = os.urandom(16)
    good = llm_span(trace_id, "gpt-4o-mini", 10, 5)
    bad_tokens = llm_span(trace_id, "gpt-4o-mini", "lots", 5)
    bad_id = llm_span(b"\x01\x02", "gpt-4o-mini", 10, 5)
    negative = llm_span(trace_id, "gpt-4o-mini", 10, -5)
    body = request(bad_tokens, good, bad_id, negative).SerializeToString()
    status, _, answer = post(receiver.http_url, body, "application/x-protobuf")
    assert status == 200
    partial = ExportTraceServiceResponse.FromString(answer).partial_success
    assert partial.rejected_spans == 3
    assert "'lots' is not a token count" in partial.error_message
    assert "trace_id must be 16" in partial.error_message
    assert "is negative" in partial.error_message
    receiver.stop()
    assert receiver.sql("SELECT span_id FROM llmcost.llm_usage") == [{"span_id": good.span_id.hex()}]


def test_bad_hex_id_in_json_rejects_only_that_span(receiver_factory):
    receiver = receiver_factory()
    document = to_otlp_json(request(llm_span(os.urandom(16), "gpt-4o-mini", 1, 1),
                                    llm_span(os.urandom(16), "gpt-4o-mini", 2, 2)))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "not-hex"
    status, _, body = post(receiver.http_url, json_body(document), "application/json")
    assert status == 200
    assert json.loads(body)["partialSuccess"]["rejectedSpans"] == "1"  # int64 as a string in OTLP/JSON
    receiver.stop()
    assert receiver.sql("SELECT input_tokens FROM llmcost.llm_usage") == [{"input_tokens": 2}]


def test_error_answers(receiver_factory):
    receiver = receiver_factory({"receiver": {"max_request_bytes": 4096}})
    url = receiver.http_url

    status, content_type, body = post(url, b"\xff\x00 definitely not protobuf", "application/x-protobuf")
    assert (status, content_type) == (400, "application/x-protobuf")
    assert "not a protobuf" in status_pb2.Status.FromString(body).message

    status, content_type, body = post(url, b"{not json", "application/json")
    assert (status, content_type) == (400, "application/json")
    assert "not valid JSON" in json.loads(body)["message"]

    assert post(url, b"hello", "text/plain")[0] == 415
    assert post(url, b"x" * 5000, "application/x-protobuf")[0] == 413
    # The limit also holds after decompression: 100 kB of zeros gzip to a few hundred bytes.
    bomb = gzip.compress(b"\x00" * 100_000)
    assert len(bomb) < 4096
    assert post(url, bomb, "application/x-protobuf", encoding="gzip")[0] == 413
    assert post(url, b"\x1f\x8b broken", "application/x-protobuf", encoding="gzip")[0] == 400
    assert post(url, b"", "application/x-protobuf", encoding="br")[0] == 415
    # An empty export is a success.
    assert post(url, b"", "application/x-protobuf")[0] == 200
    receiver.stop()


def test_attributes_of_unexpected_types_reject_only_their_span(receiver_factory):
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

    receiver = receiver_factory()
    trace_id = os.urandom(16)
    odd = llm_span(trace_id, "gpt-4o-mini", 10, 5)
    del odd.attributes[:]
    odd.attributes.append(KeyValue(key="gen_ai.operation.name", value=AnyValue(array_value=ArrayValue(
        values=[AnyValue(string_value="chat")]))))
    good = llm_span(trace_id, "gpt-4o-mini", 10, 5)
    status, _, answer = post(receiver.http_url, request(odd, good).SerializeToString(), "application/x-protobuf")
    assert status == 200
    assert ExportTraceServiceResponse.FromString(answer).partial_success.rejected_spans == 1
    receiver.stop()
    assert receiver.sql("SELECT span_id FROM llmcost.llm_usage") == [{"span_id": good.span_id.hex()}]
