"""Rollups and requests stay exact: repeated batches, crash replays and repricing (real chDB)."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from otel_llmcost.pricing import load_price_book
from otel_llmcost.reports.repricing import reprice
from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.schema import dedup_token
from rollup_checks import assert_rollups_match_raw
from test_durability import QUICK_FLUSH, SLOW_FLUSH, _send_orphan_calls, _stored_span_ids, _wait_for_rows
from test_migrations import _rows
from test_repricing import NEW_PRICES


def test_the_same_batch_inserted_twice_is_counted_once_everywhere(store):
    batch = _rows(120)
    store.insert_usage(batch)
    store.insert_usage(list(reversed(batch)))  # a retry: same calls, so the same token
    raw = assert_rollups_match_raw(store)
    assert raw["calls"] == 120
    store.insert_usage(batch[:60])  # different calls: a different batch, stored (its calls twice)
    assert assert_rollups_match_raw(store)["calls"] == 180


def test_the_dedup_token_depends_on_the_calls_only():
    batch = _rows(10)
    later = [dataclasses.replace(row, ingested_at=datetime.now(timezone.utc)) for row in batch]
    assert dedup_token(batch) == dedup_token(later[::-1])
    assert dedup_token(batch) != dedup_token(batch[:9])


def test_rollups_read_with_plain_sql(store):
    store.insert_usage(_rows(40))
    summed = store.query(
        "SELECT tenant_id, sum(calls) AS calls, toString(sum(cost_usd)) AS usd, toTypeName(sum(cost_usd)) AS type,"
        " quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_ms_quantiles) AS latency"
        " FROM llmcost.usage_daily GROUP BY tenant_id ORDER BY tenant_id")
    raw = store.query(
        "SELECT tenant_id, count() AS calls, toString(sum(ifNull(cost_usd, 0))) AS usd,"
        " quantileExact(0.5)(latency_ms) AS median FROM llmcost.llm_usage GROUP BY tenant_id ORDER BY tenant_id")
    assert [(r["tenant_id"], r["calls"], r["usd"]) for r in summed] == [
        (r["tenant_id"], r["calls"], r["usd"]) for r in raw]
    assert {r["type"] for r in summed} == {"Decimal(38, 12)"}
    for rolled, exact in zip(summed, raw, strict=True):  # t-digest: close, not exact
        assert rolled["latency"][0] == pytest.approx(exact["median"], rel=0.05)


def test_reprice_of_a_month_rebuilds_every_rollup_from_the_raw_rows(store, tmp_path):
    rows = [dataclasses.replace(row, provider="acme", request_model="acme-1", response_model="acme-1",
                                output_tokens=n * 1000) for n, row in enumerate(_rows(200))]
    store.insert_usage(rows)
    november_before = store.query(
        "SELECT toString(sum(cost_usd)) AS usd FROM llmcost.usage_hourly WHERE toYYYYMM(hour) = 202611")
    book_file = tmp_path / "corrected.yaml"
    book_file.write_text(NEW_PRICES)

    summary = reprice(store, load_price_book([str(book_file)]), datetime(2026, 11, 1, tzinfo=timezone.utc),
                      datetime(2026, 12, 1, tzinfo=timezone.utc), dry_run=False)

    assert summary.changed_rows > 0
    raw = assert_rollups_match_raw(store)
    november = store.query(
        "SELECT toString(sum(cost_usd)) AS usd FROM llmcost.usage_hourly WHERE toYYYYMM(hour) = 202611")
    assert november != november_before
    expected = sum(Decimal(r.input_tokens) * 1 + Decimal(r.output_tokens) * 2 for r in rows
                   if r.ts.month == 11) / 1_000_000
    assert Decimal(november[0]["usd"]) == expected
    assert Decimal(raw["cost_usd"]) > expected  # October keeps its old costs


def test_replay_after_a_kill_between_insert_and_spool_release_counts_once(receiver_factory, tmp_path):
    data_dir = tmp_path / "data"
    first = receiver_factory(SLOW_FLUSH, data_dir=data_dir)
    sent = _send_orphan_calls(first, 3)
    spool_copy = tmp_path / "spool-copy"  # the spool before the rows are stored
    shutil.copytree(data_dir / "spool", spool_copy)
    first.kill()
    second = receiver_factory(QUICK_FLUSH, data_dir=data_dir)
    _wait_for_rows(second, 3)
    second.stop()
    assert _stored_span_ids(second) == sent

    for crash in (True, False):
        # the spool as it was when the rows had been inserted but not yet released
        shutil.rmtree(data_dir / "spool")
        shutil.copytree(spool_copy, data_dir / "spool")
        restarted = receiver_factory(QUICK_FLUSH, data_dir=data_dir)
        if crash:
            _wait_for_release(data_dir)
            restarted.kill()  # kill -9 once the replay is through
        else:
            restarted.stop()
    assert _stored_span_ids(restarted) == sent
    store = ChdbStore(str(data_dir / "chdb"), "llmcost")
    assert assert_rollups_match_raw(store)["calls"] == 3
    store.close()


def _wait_for_release(data_dir, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while list((data_dir / "spool").rglob("*.jsonl")):
        assert time.monotonic() < deadline, "the replayed spool was never released"
        time.sleep(0.2)
