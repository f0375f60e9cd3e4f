"""The receiver as an operator sees it, against a real process: health, readiness and Prometheus metrics;
a busy port is one line and exit 2; idle and slow connections cannot pile up; bad input is a 400 or
INVALID_ARGUMENT (never a code an exporter retries), and a bad span is dropped alone."""

from __future__ import annotations

import gzip
import json
import selectors
import socket
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest

from conftest import FAST_CONFIG, Receiver
from payloads import json_body, llm_span, post, request, to_otlp_json

MAX_CONNECTIONS = 40
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    config = {**FAST_CONFIG, "receiver": {"max_connections": MAX_CONNECTIONS, "read_timeout_seconds": 1.0}}
    started = Receiver(tmp_path_factory.mktemp("ops") / "data", config).start()
    yield started
    if started.process.poll() is None:
        started.stop()


def get(receiver: Receiver, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{receiver.http_port}{path}", timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metrics(receiver: Receiver) -> dict[str, float]:
    status, text = get(receiver, "/metrics")
    assert status == 200
    return {name: float(value) for name, value in
            (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))}


def stored_spans(receiver: Receiver, *spans) -> set[str]:
    ids = ", ".join(f"'{span.span_id.hex()}'" for span in spans)
    return {row["span_id"] for row in receiver.sql(f"SELECT span_id FROM llmcost.llm_usage WHERE span_id IN ({ids})")}


def wait_stored(receiver: Receiver, *spans, timeout: float = 30.0) -> set[str]:
    deadline = time.monotonic() + timeout
    while (found := stored_spans(receiver, *spans)) != {span.span_id.hex() for span in spans}:
        if time.monotonic() > deadline:
            return found
        time.sleep(0.5)
    return found


def test_health_readiness_and_metrics(receiver):
    assert get(receiver, "/healthz") == (200, "ok\n")
    assert get(receiver, "/readyz") == (200, "ready\n")
    before = metrics(receiver)
    good = [llm_span(bytes([7]) * 16, "gpt-4o-mini", 10, 5) for _ in range(2)]
    bad = llm_span(bytes([7]) * 16, "gpt-4o-mini", "lots", 5)
    assert post(receiver.http_url, request(*good, bad).SerializeToString(), "application/x-protobuf")[0] == 200
    assert wait_stored(receiver, *good) == {span.span_id.hex() for span in good}
    after = metrics(receiver)
    grew = {name: after[name] - before.get(name, 0) for name in after}
    assert grew["llmcost_spans_received_total"] == 3
    assert grew["llmcost_spans_acknowledged_total"] == 2
    assert grew["llmcost_spans_rejected_total"] == 1
    assert grew["llmcost_rows_written_total"] >= 2
    assert grew["llmcost_insert_seconds_count"] >= 1
    assert after['llmcost_insert_seconds_bucket{le="+Inf"}'] == after["llmcost_insert_seconds_count"]
    assert "llmcost_spool_bytes" in after


@pytest.mark.parametrize("transport", ["grpc", "http", "query"])
def test_a_busy_port_is_one_line_naming_the_flag_and_exit_2(receiver, tmp_path, transport):
    ports = {"grpc": ["--grpc-port", str(receiver.grpc_port), "--http-port", "0", "--query-port", "0"],
             "http": ["--grpc-port", "0", "--http-port", str(receiver.http_port), "--query-port", "0"],
             "query": ["--grpc-port", "0", "--http-port", "0", "--query-port", str(receiver.query_port)]}[transport]
    data_dir = tmp_path / "second"
    second = subprocess.run(
        [sys.executable, "-m", "otel_llmcost", "serve", "--data-dir", str(data_dir), "--host",
         "127.0.0.1", *ports], capture_output=True, text=True, timeout=120, check=False,
    )
    assert second.returncode == 2
    [line] = second.stderr.splitlines()
    protocol = {"grpc": "OTLP/gRPC", "http": "OTLP/HTTP", "query": "the ClickHouse HTTP interface"}[transport]
    assert line.startswith(f"otel-llmcost serve: error: cannot listen for {protocol} on 127.0.0.1:")
    assert {"grpc": "--grpc-port", "http": "--http-port", "query": "--query-port"}[transport] in line
    assert ("--no-query-listener" in line) == (transport == "query")
    assert not data_dir.exists()  # a failed start leaves no data directory it made itself


def test_gzip_is_read_to_its_end_and_checked(receiver):
    spans = [llm_span(bytes([8]) * 16, "gpt-4o-mini", 10, 5) for _ in range(2)]
    body = request(*spans).SerializeToString()
    two_members = gzip.compress(body[:len(body) // 2]) + gzip.compress(body[len(body) // 2:])
    assert post(receiver.http_url, two_members, "application/x-protobuf", encoding="gzip")[0] == 200
    assert post(receiver.http_url, gzip.compress(body)[:-8], "application/x-protobuf", encoding="gzip")[0] == 400
    assert wait_stored(receiver, *spans) == {span.span_id.hex() for span in spans}


def test_absurd_json_is_400_not_a_retryable_code(receiver):
    deep = b'{"resourceSpans": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    long_number = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": ' + b"9" * 10_000 + b"}]}]}]}"
    for body in (deep, long_number):
        status, content_type, answer = post(receiver.http_url, body, "application/json")
        assert (status, content_type) == (400, "application/json")
        assert "not valid JSON" in json.loads(answer)["message"]


def test_deeply_nested_protobuf_is_400_and_invalid_argument(receiver):
    value = b"\x0a\x01x"  # AnyValue{string_value: "x"}
    for _ in range(10_000):  # AnyValue{array_value: ArrayValue{values: [value]}}
        inner = b"\x0a" + _varint(len(value)) + value
        value = b"\x2a" + _varint(len(inner)) + inner
    key_value = b"\x0a\x01k\x12" + _varint(len(value)) + value
    # Span.attributes (9) <- ScopeSpans.spans (2) <- ResourceSpans.scope_spans (2) <- request.resource_spans (1)
    body = _nest(key_value, (9, 2, 2, 1))
    assert post(receiver.http_url, body, "application/x-protobuf")[0] == 400
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel, \
            pytest.raises(grpc.RpcError) as failure:
        channel.unary_unary(EXPORT)(body, timeout=30)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        out.append((number & 0x7F) | (0x80 if number > 0x7F else 0))
        number >>= 7
        if not number:
            return bytes(out)


def _nest(payload: bytes, fields: tuple[int, ...]) -> bytes:
    """Wrap payload as length-delimited field fields[0] of a message, that as fields[1] of the next..."""
    for number in fields:
        payload = _varint(number << 3 | 2) + _varint(len(payload)) + payload
    return payload


def test_a_json_span_of_the_wrong_shape_is_dropped_alone(receiver):
    good = llm_span(bytes([10]) * 16, "gpt-4o-mini", 10, 5)
    document = to_otlp_json(request(llm_span(bytes([10]) * 16, "gpt-4o-mini", 1, 1), good))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"] = {"not": "a time"}
    status, _, answer = post(receiver.http_url, json_body(document), "application/json")
    assert status == 200
    partial = json.loads(answer)["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "startTimeUnixNano" in partial["errorMessage"]
    assert wait_stored(receiver, good) == {good.span_id.hex()}


def _until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    sock.close()
    return received


def test_a_flood_of_idle_connections_cannot_lock_exporters_out(receiver_factory):
    # A read timeout far longer than the test: only the cap can close these connections.
    flooded = receiver_factory({"receiver": {"max_connections": MAX_CONNECTIONS, "read_timeout_seconds": 300}})
    idle = [socket.create_connection(("127.0.0.1", flooded.http_port)) for _ in range(MAX_CONNECTIONS * 3)]
    try:
        # At the cap, a new connection makes the oldest close. While twice the cap are still closing, a new
        # one is answered 503 (an exporter retries): a few tries get in.
        for _ in range(20):
            status = get(flooded, "/healthz")[0]
            if status != 503:
                break
            time.sleep(0.2)
        assert status == 200
        # Beyond the cap, connections were closed (for newer ones, or with a 503) long before the read timeout:
        # the receiver holds at most MAX_CONNECTIONS of them. A selector, not select(): the test process may
        # already hold file descriptors above FD_SETSIZE.
        still_open, deadline = set(idle), time.monotonic() + 60
        with selectors.DefaultSelector() as selector:
            for sock in idle:
                selector.register(sock, selectors.EVENT_READ)
            while len(still_open) > MAX_CONNECTIONS and time.monotonic() < deadline:
                for ready, _ in selector.select(1.0):
                    sock = ready.fileobj
                    assert isinstance(sock, socket.socket)
                    answer = sock.recv(4096)
                    assert answer == b"" or answer.startswith(b"HTTP/1.1 503 "), answer
                    if answer == b"" or sock.recv(4096) == b"":
                        still_open.discard(sock)
                        selector.unregister(sock)
        assert len(still_open) <= MAX_CONNECTIONS
    finally:
        for sock in idle:
            sock.close()
    flooded.stop()


def test_idle_and_slow_connections_are_closed_after_the_read_timeout(receiver):
    idle = socket.create_connection(("127.0.0.1", receiver.http_port))
    slow = socket.create_connection(("127.0.0.1", receiver.http_port))
    slow.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")  # headers that never end
    assert _until_closed(idle) == b""
    assert _until_closed(slow) == b""
    assert get(receiver, "/healthz") == (200, "ok\n")


def test_the_log_says_what_happened_once(receiver):
    """Runs last: it stops the module's receiver to read its log."""
    unpriced = [llm_span(bytes([11 + n]) * 16, "no-such-model-xyz", 10, 5) for n in range(3)]
    for span in unpriced:
        assert post(receiver.http_url, request(span).SerializeToString(), "application/x-protobuf")[0] == 200
    for _ in range(3):
        assert post(receiver.http_url, b"\xff garbage", "application/x-protobuf")[0] == 400
        bad = request(llm_span(bytes([14]) * 16, "gpt-4o-mini", "lots", 5)).SerializeToString()
        assert post(receiver.http_url, bad, "application/x-protobuf")[0] == 200
    assert wait_stored(receiver, *unpriced) == {span.span_id.hex() for span in unpriced}
    log = receiver.stop()
    assert "Traceback" not in log
    assert log.count("model openai/no-such-model-xyz has no price") == 1  # once per model and run
    # At most one line per kind a minute (this module runs in under two, even on a busy machine).
    assert 1 <= log.count("refused an export (undecodable)") <= 2
    assert 1 <= log.count("rejected 1 of") <= 2
    assert len(log.splitlines()) < 30
