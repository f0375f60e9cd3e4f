"""bench/usage_generator.py's fast path (raw rows attached to llm_usage, rollups rebuilt by the product's
backfill) makes the same rollups as the materialized views make from the same rows (real chDB)."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import chdb
import pytest

from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.rollups import ROLLUPS
from rollup_checks import _readable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from usage_generator import generate  # noqa: E402

END = datetime(2026, 12, 2, 6, tzinfo=timezone.utc)  # 3 days before it span two monthly partitions


def _rollups(path: Path, shape: str, fast: bool) -> dict[str, list[dict]]:
    """Every rollup grouped by its keys, read as a reader would, after generating the rows one way."""
    store = ChdbStore(str(path), "llmcost")
    store.ensure_schema()
    store.close()
    conn = chdb.connect(str(path))
    generate(conn, 30_000, 3, END, shape, fast)
    conn.close()
    store = ChdbStore(str(path), "llmcost")
    try:
        tables = {row["name"] for row in store.query("SHOW TABLES FROM llmcost")}
        assert "llm_usage_staging" not in tables  # the fast path leaves no staging table behind
        read = {}
        for rollup in ROLLUPS:
            keys = ", ".join(name for name, _, _ in rollup.keys)
            reads = ", ".join([keys] + _readable(rollup))  # t-digest states: their groups only
            read[rollup.table] = store.query(
                f"SELECT {reads} FROM llmcost.{rollup.table} GROUP BY {keys} ORDER BY {keys}")
        read["llm_usage"] = store.query("SELECT count() AS n, toString(sum(cost_usd)) AS cost,"
                                        " uniqExact(tenant_id) AS tenants, uniqExact(user_id) AS users,"
                                        " uniqExact(feature) AS features, uniqExact(request_model) AS models,"
                                        " groupUniqArray(_partition_id) AS partitions FROM llmcost.llm_usage")
        return read
    finally:
        store.close()


@pytest.mark.parametrize("shape", ["even", "skewed"])
def test_the_fast_path_makes_the_rollups_the_views_make(tmp_path, shape):
    through_views = _rollups(tmp_path / "views", shape, fast=False)
    fast = _rollups(tmp_path / "fast", shape, fast=True)
    assert through_views["llm_usage"][0]["n"] == 30_000
    assert sorted(through_views["llm_usage"][0]["partitions"]) == ["202611", "202612"]
    for table, rows in through_views.items():
        assert rows, table
        assert _rounded(fast[table]) == _rounded(rows), table


def _rounded(rows: list[dict]) -> list[dict]:
    """Float sums (latency_ms_sum) to 6 decimals: a float's sum depends on the order it adds in. Money and
    counts are Decimal strings and integers, compared to the last digit."""
    return [{k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()} for row in rows]


def test_the_even_shape_spreads_calls_over_its_dimensions(tmp_path):
    totals = _rollups(tmp_path / "even", "even", fast=True)["llm_usage"][0]
    assert (totals["tenants"], totals["features"], totals["models"]) == (200, 12, 6)
    assert 4_000 < totals["users"] <= 5_000  # 5,000 users, ~15,000 requests: nearly all seen
