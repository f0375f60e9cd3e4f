"""Acknowledged means on disk (issue 11.3): a full spool disk refuses exports retryably and loses none of
those it acknowledged; torn or damaged spool lines are skipped and the rest replayed; a full disk under the
store's parts refuses inserts instead of losing them."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time

import pytest

from otel_llmcost.errors import StoreError
from otel_llmcost.ingest.spool import Spool
from otel_llmcost.model import SpanRecord
from otel_llmcost.store.chdb_store import ChdbStore
from payloads import llm_span, post, request
from test_durability import QUICK_FLUSH, SLOW_FLUSH, _stored_span_ids, _wait_for_rows
from test_receiver_ops import get
from test_store import BASE_ROW


def _mount_small_tmpfs(directory, size: str) -> None:
    directory.mkdir(parents=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {result.stderr.strip()}")


def _export(count: int) -> tuple[bytes, list[str]]:
    trace_id = os.urandom(16)  # orphan calls: held for SLOW_FLUSH's whole wait, so the spool only grows
    spans = [llm_span(trace_id, "gpt-4o-mini", 100, 10, parent=os.urandom(8), padding="x" * 1000)
             for _ in range(count)]
    return request(*spans).SerializeToString(), [span.span_id.hex() for span in spans]


def test_a_full_spool_disk_refuses_retryably_and_loses_nothing_acknowledged(receiver_factory, tmp_path):
    data_dir = tmp_path / "data"
    spool_dir = data_dir / "spool"
    _mount_small_tmpfs(spool_dir, "1m")
    try:
        receiver = receiver_factory(SLOW_FLUSH, data_dir=data_dir)
        acknowledged, refused = [], None
        for _ in range(100):  # ~50 KB per export: the 1 MB disk is full after ~20
            body, span_ids = _export(40)
            status, _, _ = post(receiver.http_url, body, "application/x-protobuf")
            if status == 200:
                acknowledged += span_ids
            else:
                assert status == 503  # retryable: the exporter keeps the data and tries again
                refused = (body, span_ids)
                break
        assert refused is not None and acknowledged
        # The retry of the refused export finds nothing it could be deduplicated against: refused again.
        assert post(receiver.http_url, refused[0], "application/x-protobuf")[0] == 503
        receiver.kill()  # kill -9 while full

        subprocess.run(["mount", "-o", "remount,size=64m", str(spool_dir)], check=True)
        restarted = receiver_factory(QUICK_FLUSH, data_dir=data_dir)
        assert post(restarted.http_url, refused[0], "application/x-protobuf")[0] == 200  # the exporter's retry
        _wait_for_rows(restarted, len(acknowledged) + len(refused[1]))
        log = restarted.stop()
        assert "torn" not in log
        assert _stored_span_ids(restarted) == sorted(acknowledged + refused[1])  # each once
    finally:  # receiver_factory kills what still runs; a lazy unmount does not wait for it
        subprocess.run(["umount", "-l", str(spool_dir)], capture_output=True)


def _spans(count: int):
    return [llm_span(os.urandom(16), "gpt-4o-mini", 1, 1) for _ in range(count)]


def test_torn_and_damaged_spool_lines_are_skipped_and_the_rest_replayed(tmp_path):
    from otel_llmcost.decode import decode_spans
    from otel_llmcost.semconv import WANTED_ATTRIBUTES

    exports = [decode_spans(request(*_spans(2)), WANTED_ATTRIBUTES).spans for _ in range(4)]
    spool = Spool(str(tmp_path / "spool"), fsync=False)
    for spans in exports:
        spool.append(spans)
    spool.close()  # nothing released: the segment stays, as after a crash
    (segment,) = (tmp_path / "spool").glob("*.jsonl")
    lines = segment.read_bytes().splitlines(keepends=True)
    damaged = lines[1].replace(b'"gpt-4o-mini"', b'"gpt-4o-mino"')  # still valid JSON: only the checksum sees it
    segment.write_bytes(lines[0] + damaged + b"garbage\n" + lines[2] + lines[3][: len(lines[3]) // 2])

    replayed = [export.spans for export in Spool(str(tmp_path / "spool")).replay()]
    assert [[s.span_id for s in spans] for spans in replayed] == [
        [s.span_id for s in exports[0]], [s.span_id for s in exports[2]]]


def test_a_replayed_trace_waits_on_from_its_first_arrival(tmp_path):
    from otel_llmcost.decode import decode_spans
    from otel_llmcost.ingest.tracebuffer import TraceBuffer
    from otel_llmcost.semconv import WANTED_ATTRIBUTES

    orphan = llm_span(os.urandom(16), "gpt-4o-mini", 1, 1, parent=os.urandom(8))  # its parent never comes
    spool = Spool(str(tmp_path / "spool"), fsync=False)
    spool.append(decode_spans(request(orphan), WANTED_ATTRIBUTES).spans)
    spool.close()  # a SIGTERM while the trace waits: it stays in the spool
    time.sleep(1.2)  # the receiver is down for longer than the trace's whole wait

    buffer = TraceBuffer(wait=0.5, max_wait=1.0)
    for export in Spool(str(tmp_path / "spool")).replay():
        buffer.add(export.spans, export.segment, export.size, age=export.age)
    assert [group.trace_id for group in buffer.take_ready()] == [orphan.trace_id.hex()]  # not 1 s more


def test_a_full_disk_under_the_parts_refuses_inserts_until_it_has_room(tmp_path):
    """chDB reports an INSERT done when only the parts' filesystem (store/) is full: the store refuses first."""
    path = tmp_path / "chdb"
    _mount_small_tmpfs(path / "store", "48m")
    filler = path / "store" / "filler"
    try:
        store = ChdbStore(str(path), "llmcost")
        try:
            store.ensure_schema()
            rows = [dataclasses.replace(BASE_ROW, span_id=f"{n:016x}") for n in range(100)]
            filler.write_bytes(b"\0" * (46 * 1024 * 1024))  # leaves under the 4 MiB reserve
            with pytest.raises(StoreError, match="not enough free disk") as refused:
                store.insert_usage(rows)
            assert refused.value.retryable
            filler.unlink()
            store.insert_usage(rows)
            assert store.query("SELECT count() AS n FROM llmcost.llm_usage") == [{"n": 100}]
        finally:
            store.close()
    finally:
        subprocess.run(["umount", "-l", str(path / "store")], capture_output=True)


def test_a_small_parts_disk_that_filled_takes_the_whole_backlog_once_freed(receiver_factory, tmp_path):
    """The disk wedge (issue 16 item 5): the tables' parts alone on a 16 MB filesystem, filled while 6,000
    calls arrive. /readyz says why storage stalls; once the filler is removed the backlog, whose one INSERT of
    spans would need more room than the disk has (chDB is asked for twice the batch), is stored in smaller
    INSERTs, without a restart."""
    data_dir = tmp_path / "data"
    parts = data_dir / "chdb" / "store"
    _mount_small_tmpfs(parts, "16m")
    try:
        # Orphan calls wait for their parents 6 s: all are released in one flush, one batch.
        held = {"attribution": {"trace_wait_seconds": 6.0, "max_trace_wait_seconds": 6.0}}
        receiver = receiver_factory({**held, "log_level": "WARNING"}, data_dir=data_dir)
        filler = parts / "filler"
        with open(filler, "wb") as out:  # to the last byte: ENOSPC ends it
            try:
                while out.write(b"\0" * 65536):
                    out.flush()
            except OSError:
                pass
        sent = []
        for _ in range(12):
            trace_id = os.urandom(16)
            spans = [llm_span(trace_id, "gpt-4o-mini", 100, 10, parent=os.urandom(8), padding="x" * 1500)
                     for _ in range(500)]
            status, _, body = post(receiver.http_url, request(*spans).SerializeToString(), "application/x-protobuf")
            assert status == 200, body
            sent += [span.span_id.hex() for span in spans]
        deadline = time.monotonic() + 60
        while (ready := get(receiver, "/readyz"))[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert ready[0] == 503 and "not enough free disk" in ready[1], ready
        filler.unlink()
        _wait_for_rows(receiver, len(sent))
        assert _stored_span_ids(receiver) == sorted(sent)
        assert get(receiver, "/readyz") == (200, "ready\n")
        receiver.stop()
        assert not list((data_dir / "spool").rglob("*.jsonl"))
    finally:
        subprocess.run(["umount", "-l", str(parts)], capture_output=True)


@pytest.mark.parametrize("attributes", [
    {"plain": "text", "count": 2**63 - 1, "ratio": 0.5, "flag": True, "list": [1, "a", {"nested": 1.5}]},
    {"nan": float("nan"), "inf": float("-inf")},  # orjson would write null: json writes these lines
    {"empty": None},
    {"lone surrogate": "\ud800x"},  # orjson refuses it: json writes the line
    {"ünïcode": "東京 'quoted' \\ \n"},
], ids=["plain", "nan", "null", "surrogate", "unicode"])
def test_a_replayed_span_has_exactly_the_values_it_was_acknowledged_with(tmp_path, attributes):
    spool = Spool(str(tmp_path / "spool"), fsync=False)
    span = SpanRecord("ab" * 16, "cd" * 8, "", "op", 1, 10, 20, 0, "", attributes, {"service.name": "api"}, "s", "1")
    spool.append([span])
    spool.close()
    [replayed] = Spool(str(tmp_path / "spool"), fsync=False).replay()
    assert repr(replayed.spans) == repr([span])  # repr: nan == nan is False, and 1 == 1.0 would hide a change
