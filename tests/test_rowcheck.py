"""Every value is checked against its column (rowcheck), and a row the store refuses is dead-lettered alone
(writer), on real chDB."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from otel_llmcost.flush.writer import BatchWriter
from otel_llmcost.rows.rowcheck import RowRejected, check_row
from otel_llmcost.rows.traces import NOTE_ATTRIBUTE, TraceColumns
from otel_llmcost.store.chdb_store import ChdbStore
from test_store import BASE_ROW


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    opened = ChdbStore(str(tmp_path_factory.mktemp("rowcheck") / "chdb"), "llmcost")
    opened.ensure_schema()
    yield opened
    opened.close()


def _row(span_id: str, **changes):
    return dataclasses.replace(BASE_ROW, span_id=span_id, **{"metadata": {}, **changes})


def _stored(store, span_id: str) -> dict:
    rows = store.query("SELECT * FROM llmcost.llm_usage WHERE span_id = {s:String}", {"s": span_id})
    assert len(rows) == 1, rows
    return rows[0]


def test_values_beyond_their_columns_are_made_storable_with_notes(store):
    row = check_row(_row(
        "a000000000000001", output_tokens=2 ** 64, attempt=70_000, web_searches=2 ** 33,
        emitter_cost_usd=Decimal("1e30"), tenant_id="t" * 5000, user_id="u\ud800", tags=tuple(map(str, range(300))),
        metadata={f"k{i}": "v" * 20_000 for i in range(300)}, ts=datetime(2400, 1, 1, tzinfo=timezone.utc),
    ))
    BatchWriter(store).write([row], [])
    stored = _stored(store, "a000000000000001")
    assert stored["output_tokens"] == 2 ** 64 - 1 and stored["attempt"] == 65535
    assert stored["web_searches"] == 2 ** 32 - 1
    assert stored["cost_status"] == "invalid_usage" and stored["cost_usd"] is None  # clamped counts: no price
    assert stored["input_cost_usd"] is None and stored["emitter_cost_usd"] is None
    assert stored["tenant_id"] == "t" * 1024 and stored["user_id"] == "u?"
    assert len(stored["tags"]) == 256 and len(stored["metadata"]) == 256
    assert all(len(value) == 16 * 1024 for value in stored["metadata"].values())
    assert stored["ts"] < "2300"
    for fragment in ("output_tokens", "attempt 70000", "web_searches", "emitter_cost_usd", "tenant_id truncated",
                     "user_id had characters", "tags: 300 entries", "metadata: 300 entries", "ts "):
        assert fragment in stored["cost_note"], fragment


def test_a_value_that_cannot_be_stored_in_any_form_is_refused():
    with pytest.raises(RowRejected, match="price_multiplier"):
        check_row(_row("a000000000000002", price_multiplier=Decimal("1e20")))  # not Nullable: nothing to drop
    with pytest.raises(RowRejected, match="latency_ms"):
        check_row(_row("a000000000000003", latency_ms="slow"))


def test_a_row_within_range_is_unchanged():
    row = _row("a000000000000004", output_tokens=2 ** 64 - 1, attempt=65535)
    assert check_row(dataclasses.replace(row)) == row


def test_a_row_the_store_refuses_is_dead_lettered_and_the_batch_stored(store):
    # Rows not passed through check_row: the INSERT itself fails on the one value out of range.
    good = [_row(f"b{i:015d}") for i in range(9)]
    bad = _row("bbad000000000000", input_tokens=2 ** 64 + 5)
    writer = BatchWriter(store)
    writer.write([*good[:4], bad, *good[4:]], [])
    stored = store.query("SELECT span_id FROM llmcost.llm_usage WHERE startsWith(span_id, 'b') ORDER BY span_id")
    assert [r["span_id"] for r in stored] == sorted(r.span_id for r in good)
    rejected = store.query("SELECT * FROM llmcost.rejected_calls WHERE span_id = 'bbad000000000000'")
    assert len(rejected) == 1 and "the store refused the row" in rejected[0]["reason"]
    assert json.loads(rejected[0]["span"])["input_tokens"] == 2 ** 64 + 5
    assert writer.counts.rows_written == 9 and writer.counts.rows_dead_lettered == 1

    writer.write([*good, bad], [])  # the same batch again (a retry after a crash): nothing stored twice
    assert store.query("SELECT count() AS n FROM llmcost.llm_usage WHERE startsWith(span_id, 'b')") == [{"n": 9}]
    assert writer.counts.rows_already_stored == 9


def test_rows_tested_as_columns_are_checked_where_check_row_would_act():
    """rows_to_check tests a batch a column at a time: every row check_row would change or refuse is among
    the rows it names, and check_row leaves each row it does not name exactly as it was."""
    from datetime import timedelta

    from otel_llmcost.rows.rowcheck import rows_to_check

    good = [_row(f"c{i:015d}") for i in range(3)] + [_row("c000000000000009", tenant_id="müller", tags=("ü",),
                                                          metadata={"plan": "pro"}, ttft_ms=1.5, streaming=True)]
    bad = [
        _row("ca00000000000001", output_tokens=2 ** 64),
        _row("ca00000000000002", attempt=70_000),
        _row("ca00000000000003", tenant_id="t" * 5000),
        _row("ca00000000000004", user_id="\ud800"),
        _row("ca00000000000005", cost_usd=Decimal("1e30")),
        _row("ca00000000000006", input_cost_usd=Decimal("NaN")),
        _row("ca00000000000007", price_multiplier=Decimal("1e20")),
        _row("ca00000000000008", latency_ms=float("inf")),
        _row("ca00000000000009", latency_ms=5),
        _row("ca0000000000000a", ttft_ms=float("nan")),
        _row("ca0000000000000b", streaming=1),
        _row("ca0000000000000c", tags=[f"t{i}" for i in range(300)]),
        _row("ca0000000000000d", metadata={"k": 1}),
        _row("ca0000000000000e", ts=datetime(2150, 1, 1, tzinfo=timezone.utc)),
        _row("ca0000000000000f", ts=datetime(2026, 1, 1)),
        _row("ca00000000000010", ingested_at=datetime(1969, 1, 1, tzinfo=timezone.utc) - timedelta(days=1)),
        _row("ca00000000000011", input_tokens=-1),
        _row("ca00000000000012", cost_note=7),
    ]
    rows = good[:2] + bad + good[2:]
    assert rows_to_check(good) == set() and rows_to_check([]) == set()
    assert rows_to_check(rows) == set(range(2, 2 + len(bad)))
    for row in good:
        assert check_row(dataclasses.replace(row)) == row
    for row in bad:
        try:
            assert repr(check_row(dataclasses.replace(row))) != repr(row)  # 5 -> 5.0, 1 -> True: equal, not the same
        except RowRejected:
            pass


def test_a_refused_row_is_dead_lettered_as_it_was_built():
    row = _row("a000000000000005", tenant_id="t" * 5000, price_multiplier=Decimal("1e20"))
    with pytest.raises(RowRejected):
        check_row(row)
    assert row.tenant_id == "t" * 5000 and row.cost_note == ""  # nothing half-fixed


def _span_row(span_id: str, start_ns: int) -> list:
    from otel_llmcost.rows.traces import COLUMN_TYPES as TRACE_COLUMNS

    values = {"Timestamp": start_ns, "TraceId": "c" * 32, "SpanId": span_id, "SpanAttributes": {}, "Duration": 5,
              "ResourceAttributes": {}}
    return [values.get(name, "") for name, _ in TRACE_COLUMNS]


def test_a_span_otel_traces_refuses_is_dead_lettered_and_counted(store):
    """Rows not passed through the checks: one start past 2262 (DateTime64(9)) fails the encoding of its
    INSERT; the span alone is dead-lettered, its neighbours and the usage rows are stored, and the failed
    inserts are counted where /metrics reads them."""
    from otel_llmcost.ops.metrics import MeasuredStore

    measured = MeasuredStore(store)
    now = int(datetime.now(timezone.utc).timestamp()) * 10 ** 9
    spans = [_span_row(f"d{i:015d}", now + i) for i in range(6)] + [_span_row("dbad000000000000", 2 ** 63)]
    writer = BatchWriter(measured)
    writer.write([_row("d100000000000000")], [], TraceColumns([list(column) for column in zip(*spans, strict=True)]))
    stored = store.query("SELECT SpanId FROM llmcost.otel_traces WHERE startsWith(SpanId, 'd') ORDER BY SpanId")
    assert [row["SpanId"] for row in stored] == [f"d{i:015d}" for i in range(6)]
    rejected = store.query("SELECT reason FROM llmcost.rejected_calls WHERE span_id = 'dbad000000000000'")
    assert len(rejected) == 1 and rejected[0]["reason"].startswith("otel_traces refused the span")
    assert _stored(store, "d100000000000000")["trace_id"] == BASE_ROW.trace_id
    assert measured.insert_failures >= 1 and measured.last_insert_error is None  # the later inserts succeeded
    assert writer.counts.spans_written == 6 and writer.counts.rows_dead_lettered == 1


def test_a_checked_span_keeps_a_time_every_column_holds():
    from otel_llmcost.rows.traces import NOTE_ATTRIBUTE, check_span

    checked = check_span(_span_row("e000000000000001", 2 ** 63))
    assert 0 < checked[0] < 2 ** 32 * 10 ** 9
    assert "Timestamp" in checked[11][NOTE_ATTRIBUTE]
    assert check_span(_span_row("e000000000000002", 10 ** 18)) == _span_row("e000000000000002", 10 ** 18)


def test_spans_checked_as_columns_are_the_rows_checked_one_by_one():
    """check_columns tests whole columns at once and checks only the rows of a column that fails: each
    span comes out as check_span makes it, whatever is wrong with it, and its neighbours as they were."""
    from otel_llmcost.rows.columncheck import MAX_ITEMS, MAX_NAME_CHARS, MAX_TEXT_CHARS
    from otel_llmcost.rows.traces import COLUMN_TYPES as TRACE_COLUMNS
    from otel_llmcost.rows.traces import check_columns, check_span

    names = [name for name, _ in TRACE_COLUMNS]
    now = int(datetime.now(timezone.utc).timestamp()) * 10 ** 9

    def span(span_id: str, **changed) -> list:
        row = _span_row(span_id, now)
        for name, value in changed.items():
            row[names.index(name)] = value
        return row

    rows = [
        span("f000000000000001", SpanName="plain ascii", SpanAttributes={"k": "v"}),
        span("f000000000000002", SpanName="caf\u00e9 \u2603", StatusMessage="\u00fcber"),  # valid UTF-8
        span("f000000000000003", SpanName="lone \ud800 surrogate"),
        span("f000000000000004", StatusMessage="m" * (MAX_TEXT_CHARS + 1)),
        span("f000000000000005", SpanName="n" * (MAX_NAME_CHARS + 1)),
        span("f000000000000006", SpanAttributes={f"k{i}": "v" for i in range(MAX_ITEMS + 3)}),
        span("f000000000000007", SpanAttributes={"count": 3, "k" * (MAX_NAME_CHARS + 5): "v"}),
        span("f000000000000008", ResourceAttributes={"service.name": "s", "bad": "\udfff"}),
        span("f000000000000009", Timestamp=2 ** 63),
        span("f00000000000000a", Timestamp=-1),
        span("f00000000000000b", Duration=2 ** 64),
        span("f00000000000000c", Duration=-5),
        span("f00000000000000d", ScopeVersion=None),
        span("f00000000000000e"),
    ]
    expected = [check_span(row) for row in rows]
    checked = check_columns(TraceColumns([list(column) for column in zip(*rows, strict=True)]))
    got = [checked.row(i) for i in range(len(rows))]
    for row, want in zip(got, expected, strict=True):
        attributes = names.index("SpanAttributes")  # a replaced time differs by when it was checked
        if "Timestamp" in want[attributes].get(NOTE_ATTRIBUTE, ""):
            row[0] = want[0] = 0
        assert row == want
    assert got[0] == rows[0] and got[1] == rows[1] and got[-1] == rows[-1]
    assert all(row != checked_row for row, checked_row in zip(rows[2:13], got[2:13], strict=True))


def test_a_batch_over_many_partitions_is_split():
    from otel_llmcost.flush.writer import MAX_PARTITIONS, by_partition

    rows = [(day, n) for day in range(160) for n in range(2)]
    parts = by_partition(rows, lambda row: row[0], 1000)
    assert [len({day for day, _ in part}) for part in parts] == [MAX_PARTITIONS] * 3 + [160 - 3 * MAX_PARTITIONS]
    assert sorted(row for part in parts for row in part) == rows
    assert by_partition(rows[:20], lambda row: row[0], 1000) == [rows[:20]]  # few partitions: as it was
    assert by_partition(rows[:20], lambda row: row[0], 8) == [rows[:8], rows[8:16], rows[16:20]]


def test_spans_go_to_the_store_in_inserts_of_bounded_size(store, monkeypatch):
    """The engine holds an otel_traces INSERT's block several times over (sort, skip indexes, two maps): a
    batch's spans go in INSERTs of at most SPAN_INSERT_ROWS, each stored; the engine merges parts in small
    blocks (policies.ENGINE_CONFIG) for the same reason."""
    from otel_llmcost.flush import writer as writer_module

    class Recording:  # the real store, its span INSERTs' sizes noted
        def __init__(self) -> None:
            self.sizes: list[int] = []

        def __getattr__(self, name):
            return getattr(store, name)

        def insert_traces(self, columns: list[list]) -> None:
            self.sizes.append(len(columns[0]))
            store.insert_traces(columns)

    monkeypatch.setattr(writer_module, "SPAN_INSERT_ROWS", 4)
    now = int(datetime.now(timezone.utc).timestamp()) * 10 ** 9
    spans = [_span_row(f"9{i:015d}", now + i) for i in range(11)]
    recording = Recording()
    BatchWriter(recording).write([], [], TraceColumns([list(column) for column in zip(*spans, strict=True)]))
    assert recording.sizes == [4, 4, 3]
    stored = store.query("SELECT count() AS n FROM llmcost.otel_traces WHERE startsWith(SpanId, '9')")
    assert int(stored[0]["n"]) == 11
    setting = store.query("SELECT value FROM system.merge_tree_settings WHERE name = 'merge_max_block_size'")
    assert setting == [{"value": "1024"}]


def test_readiness_reports_a_batch_waiting_too_long(tmp_path):
    import dataclasses as dc

    from otel_llmcost.model import PipelineStats
    from otel_llmcost.ops.metrics import STALL_SECONDS, MeasuredStore, readiness_problems

    stats = PipelineStats(**{f.name: 0 for f in dc.fields(PipelineStats)})
    measured = MeasuredStore(None)
    assert readiness_problems(measured, stats, str(tmp_path), 0) == []
    stalled = dc.replace(stats, unsent_rows=7, oldest_unsent_seconds=STALL_SECONDS + 1)
    assert readiness_problems(measured, stalled, str(tmp_path), 0) == [
        f"storage stalled: 7 rows unsent for {STALL_SECONDS + 1:.0f}s"]


def test_the_embedded_store_trims_the_heap_while_open(store):
    """The engine's freed INSERT and merge memory goes back to the system (chdb_store.HeapTrimmer): a
    thread per open store, which ends when the store closes."""
    import threading
    import time

    from otel_llmcost.store.chdb_store import HeapTrimmer

    def trimmers() -> int:
        return sum(thread.name == "llmcost-heap-trim" for thread in threading.enumerate())

    assert trimmers() >= 1  # the module's store's (another module's closed store's may still be ending)
    before = trimmers()
    trimmer = HeapTrimmer()
    trimmer.busy()
    assert trimmers() == before + 1
    trimmer.stop()
    deadline = time.monotonic() + 5
    while trimmers() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert trimmers() <= before
