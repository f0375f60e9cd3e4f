"""`serve` is ready once its spool and receivers are: the store opens after that, on a thread of its own.
What it acknowledges before the store is open is never lost, kill -9 included; /readyz says it accepts,
/storez whether the store is open; one receiver per data directory; a store that cannot open stops it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import grpc
import pytest

from conftest import FAST_CONFIG, Receiver
from payloads import llm_span, post, request
from test_receiver_ops import get

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# The calls' parents never arrive: they are held a long while (never written before the kill) ...
HELD = {"attribution": {"trace_wait_seconds": 600.0, "max_trace_wait_seconds": 600.0}}
# ... and after the restart, written within a second or two.
QUICK = {"attribution": {"trace_wait_seconds": 0.5, "max_trace_wait_seconds": 1.0, "root_settle_seconds": 0.5}}


def _calls(count: int):
    trace_id = os.urandom(16)
    return [llm_span(trace_id, "gpt-4o-mini", 100 + i, 10, parent=os.urandom(8)) for i in range(count)]


def _start(data_dir, workers: int, config: dict) -> Receiver:
    return Receiver(data_dir, {**FAST_CONFIG, **config, "receiver": {"workers": workers}}).start(wait_store=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_ack_before_the_store_opened_survives_kill_9(tmp_path, workers):
    """A first start (the store is created: every migration runs) acknowledges over both protocols while the
    store still opens; kill -9 then; the next start stores every acknowledged call, once."""
    data_dir = tmp_path / "data"
    first = _start(data_dir, workers, HELD)
    try:
        over_http, over_grpc = _calls(2), _calls(1)
        status, _, _ = post(first.http_url, request(*over_http).SerializeToString(), "application/x-protobuf")
        assert status == 200
        with grpc.insecure_channel(f"127.0.0.1:{first.grpc_port}") as channel:
            channel.unary_unary(EXPORT)(request(*over_grpc).SerializeToString(), timeout=30)
        # Asked after both acks: the store was not open yet when they were given.
        assert get(first, "/storez") == (503, "opening\n")
        assert get(first, "/readyz") == (200, "ready\n")  # it accepts: the acks are durable in the spool
    finally:
        first.kill()  # SIGKILL: nothing flushed, the store perhaps half migrated
    sent = sorted(span.span_id.hex() for span in (*over_http, *over_grpc))

    restarted = _start(data_dir, workers, QUICK)
    try:
        stored: list[str] = []
        deadline = time.monotonic() + 60
        while len(stored) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.25)
            stored = [row["span_id"] for row in
                      restarted.sql("SELECT span_id FROM llmcost.llm_usage ORDER BY span_id")]
        assert stored == sent
        assert get(restarted, "/storez") == (200, "open\n")
        assert "llmcost_store_open 1" in get(restarted, "/metrics")[1].splitlines()
    finally:
        log = restarted.stop()
    assert "replaying 3 spans from the spool" in log


def test_one_receiver_per_data_directory(tmp_path):
    """The spool is used before the store is opened (whose own lock said so before): the data directory's
    lock refuses a second receiver, in one line, before it touches anything."""
    data_dir = tmp_path / "data"
    running = _start(data_dir, 1, {})
    try:
        second = subprocess.run(
            [sys.executable, "-m", "otel_llmcost", "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1",
             "--grpc-port", "0", "--http-port", "0", "--query-port", "0"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert second.returncode == 2 and second.stdout == ""
        [line] = second.stderr.splitlines()
        assert line.startswith(f"otel-llmcost serve: error: another receiver runs on {data_dir}")
        assert get(running, "/readyz") == (200, "ready\n")
    finally:
        running.stop()


def test_a_store_that_cannot_open_stops_the_receiver(tmp_path):
    """Here chDB's directory is held by another process: `serve` is ready, then stops with the store's one-line
    error and exit 2; what it acknowledged meanwhile is in the spool (the data directory stays)."""
    from otel_llmcost.store.chdb_store import ChdbStore

    data_dir = tmp_path / "data"
    held = ChdbStore(str(data_dir / "chdb"), "llmcost")
    try:
        receiver = _start(data_dir, 1, {})
        _, log = receiver.process.communicate(timeout=120)
    finally:
        held.close()
    assert receiver.process.returncode == 2, log
    [error] = [line for line in log.splitlines() if line.startswith("otel-llmcost serve: error: ")]
    assert error.startswith(f"otel-llmcost serve: error: cannot open the embedded store at {data_dir / 'chdb'}")
    assert data_dir.is_dir()
