"""Acknowledged spans survive a crash (spool replay) and are stored exactly once."""

from __future__ import annotations

import os
import shutil
import time

from payloads import llm_span, post, request

# Spans whose parents never arrive are held for the whole wait: long enough to crash the receiver first.
SLOW_FLUSH = {"attribution": {"trace_wait_seconds": 600.0, "max_trace_wait_seconds": 600.0}}
# ... and after the restart, written within a second.
QUICK_FLUSH = {"attribution": {"trace_wait_seconds": 0.5, "max_trace_wait_seconds": 1.0}}


def _send_orphan_calls(receiver, count: int) -> list[str]:
    trace_id = os.urandom(16)
    spans = [llm_span(trace_id, "gpt-4o-mini", 100 + i, 10, parent=os.urandom(8)) for i in range(count)]
    status, _, _ = post(receiver.http_url, request(*spans).SerializeToString(), "application/x-protobuf")
    assert status == 200  # acknowledged: from here on the spans must not be lost
    return sorted(span.span_id.hex() for span in spans)


def _stored_span_ids(receiver) -> list[str]:
    return [row["span_id"] for row in receiver.sql("SELECT span_id FROM llmcost.llm_usage ORDER BY span_id")]


def _wait_for_rows(receiver, count: int) -> None:
    for _ in range(120):
        if receiver.sql("SELECT count() AS n FROM llmcost.llm_usage")[0]["n"] >= count:
            return
        time.sleep(0.25)
    raise AssertionError(f"fewer than {count} rows stored after 30 s")


def test_crash_then_restart_replays_the_spool(receiver_factory, tmp_path):
    data_dir = tmp_path / "data"
    crashed = receiver_factory(SLOW_FLUSH, data_dir=data_dir)
    sent = _send_orphan_calls(crashed, 3)
    crashed.kill()  # SIGKILL: nothing flushed, nothing cleaned up
    assert list((data_dir / "spool").rglob("*.jsonl"))

    restarted = receiver_factory(QUICK_FLUSH, data_dir=data_dir)
    _wait_for_rows(restarted, 3)
    log = restarted.stop()
    assert "replaying 3 spans from the spool" in log
    assert _stored_span_ids(restarted) == sent
    assert not list((data_dir / "spool").rglob("*.jsonl"))  # released once stored


def test_a_replayed_spool_never_duplicates(receiver_factory, tmp_path):
    data_dir = tmp_path / "data"
    first = receiver_factory(SLOW_FLUSH, data_dir=data_dir)
    sent = _send_orphan_calls(first, 2)
    # Keep a copy of the spool as it is before the rows are stored: restoring it later recreates a crash
    # that happened after the INSERT but before the spool segment was deleted.
    spool_copy = tmp_path / "spool-copy"
    shutil.copytree(data_dir / "spool", spool_copy)
    first.kill()
    second = receiver_factory(QUICK_FLUSH, data_dir=data_dir)
    _wait_for_rows(second, 2)
    second.stop()
    assert _stored_span_ids(second) == sent

    shutil.rmtree(data_dir / "spool")
    shutil.copytree(spool_copy, data_dir / "spool")
    third = receiver_factory(QUICK_FLUSH, data_dir=data_dir)
    time.sleep(3)  # past the wait: the replayed calls are priced and looked up in the store
    assert "replaying 2 spans from the spool" in third.stop()
    assert _stored_span_ids(third) == sent  # the replayed rows were recognised as stored
    assert not list((data_dir / "spool").rglob("*.jsonl"))


def test_sigterm_keeps_calls_waiting_for_ancestors_until_the_next_start(receiver_factory, tmp_path):
    data_dir = tmp_path / "data"
    trace_id, app_span_id = os.urandom(16), os.urandom(8)
    call = llm_span(trace_id, "gpt-4o-mini", 100, 10, parent=app_span_id)
    first = receiver_factory(SLOW_FLUSH, data_dir=data_dir)
    assert post(first.http_url, request(call).SerializeToString(), "application/x-protobuf")[0] == 200
    log = first.stop()  # the call still waits for its app span: not written unattributed
    assert "1 spans of traces still waiting for their ancestors stay in the spool" in log
    assert _stored_span_ids(first) == []
    assert list((data_dir / "spool").rglob("*.jsonl"))

    second = receiver_factory(SLOW_FLUSH, data_dir=data_dir)
    app = llm_span(trace_id, "unused", 0, 0)  # the root: the trace is complete once it arrives
    app.span_id, app.name = app_span_id, "POST /summarize"
    app.kind = app.SPAN_KIND_SERVER
    app.attributes.clear()
    app.attributes.add(key="tenant.id").value.string_value = "acme"
    assert post(second.http_url, request(app).SerializeToString(), "application/x-protobuf")[0] == 200
    _wait_for_rows(second, 1)
    second.stop()
    assert second.sql("SELECT span_id, tenant_id FROM llmcost.llm_usage") == [
        {"span_id": call.span_id.hex(), "tenant_id": "acme"}]
    assert not list((data_dir / "spool").rglob("*.jsonl"))


def test_an_export_resent_after_a_restart_is_stored_once(receiver_factory, tmp_path):
    data_dir = tmp_path / "data"
    body = request(llm_span(os.urandom(16), "gpt-4o-mini", 5, 5)).SerializeToString()
    for _ in range(2):  # the same export, to a fresh process that remembers nothing of the first
        receiver = receiver_factory(data_dir=data_dir)
        assert post(receiver.http_url, body, "application/x-protobuf")[0] == 200
        _wait_for_rows(receiver, 1)
        receiver.stop()
    assert len(_stored_span_ids(receiver)) == 1
    assert not list((data_dir / "spool").rglob("*.jsonl"))


def test_a_resent_export_is_stored_once(receiver_factory, tmp_path):
    receiver = receiver_factory(data_dir=tmp_path / "data")
    body = request(llm_span(os.urandom(16), "gpt-4o-mini", 5, 5)).SerializeToString()
    for _ in range(3):  # an exporter retrying after a lost response
        assert post(receiver.http_url, body, "application/x-protobuf")[0] == 200
    receiver.stop()
    assert len(_stored_span_ids(receiver)) == 1
    assert not list((tmp_path / "data" / "spool").rglob("*.jsonl"))
