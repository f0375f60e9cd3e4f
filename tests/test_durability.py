"""Acknowledged spans survive a crash (spool replay) and are stored exactly once."""

from __future__ import annotations

import os
import shutil

from payloads import llm_span, post, request

# Spans whose parents never arrive are held for the whole wait: long enough to crash the receiver first.
SLOW_FLUSH = {"attribution": {"trace_wait_seconds": 600.0, "max_trace_wait_seconds": 600.0}}


def _send_orphan_calls(receiver, count: int) -> list[str]:
    trace_id = os.urandom(16)
    spans = [llm_span(trace_id, "gpt-4o-mini", 100 + i, 10, parent=os.urandom(8)) for i in range(count)]
    status, _, _ = post(receiver.http_url, request(*spans).SerializeToString(), "application/x-protobuf")
    assert status == 200  # acknowledged: from here on the spans must not be lost
    return sorted(span.span_id.hex() for span in spans)


def _stored_span_ids(receiver) -> list[str]:
    return [row["span_id"] for row in receiver.sql("SELECT span_id FROM llmcost.llm_usage ORDER BY span_id")]


def test_crash_then_restart_replays_the_spool(receiver_factory, tmp_path):
    data_dir = tmp_path / "data"
    crashed = receiver_factory(SLOW_FLUSH, data_dir=data_dir)
    sent = _send_orphan_calls(crashed, 3)
    crashed.kill()  # SIGKILL: nothing flushed, nothing cleaned up
    assert list((data_dir / "spool").glob("*.jsonl"))

    restarted = receiver_factory(data_dir=data_dir)
    log = restarted.stop()
    assert "replaying 3 spans from the spool" in log
    assert _stored_span_ids(restarted) == sent
    assert not list((data_dir / "spool").glob("*.jsonl"))  # released once stored


def test_sigterm_flushes_waiting_traces_and_replay_never_duplicates(receiver_factory, tmp_path):
    data_dir = tmp_path / "data"
    first = receiver_factory(SLOW_FLUSH, data_dir=data_dir)
    sent = _send_orphan_calls(first, 2)
    # Keep a copy of the spool as it is before the rows are stored: restoring it later recreates a crash
    # that happened after the INSERT but before the spool segment was deleted.
    spool_copy = tmp_path / "spool-copy"
    shutil.copytree(data_dir / "spool", spool_copy)
    first.stop()  # graceful: the 600 s wait is cut short, everything is written
    assert _stored_span_ids(first) == sent

    shutil.rmtree(data_dir / "spool")
    shutil.copytree(spool_copy, data_dir / "spool")
    second = receiver_factory(data_dir=data_dir)
    assert "replaying 2 spans from the spool" in second.stop()
    assert _stored_span_ids(second) == sent  # the replayed rows were recognised as stored


def test_a_resent_export_is_stored_once(receiver_factory, tmp_path):
    receiver = receiver_factory(data_dir=tmp_path / "data")
    body = request(llm_span(os.urandom(16), "gpt-4o-mini", 5, 5)).SerializeToString()
    for _ in range(3):  # an exporter retrying after a lost response
        assert post(receiver.http_url, body, "application/x-protobuf")[0] == 200
    receiver.stop()
    assert len(_stored_span_ids(receiver)) == 1
    assert not list((tmp_path / "data" / "spool").glob("*.jsonl"))
