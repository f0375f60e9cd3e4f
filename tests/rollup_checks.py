"""Assertions shared by the rollup tests: every rollup equals a fresh build from the raw rows, exactly."""

from __future__ import annotations

from otel_llmcost.store.rollups import REQUEST_COUNTS_HOURLY, REQUEST_SKETCH, ROLLUPS


def _readable(rollup) -> list[str]:
    """Each measure as a plain reader would read it (SimpleAggregateFunction(f, ...) with f)."""
    reads = []
    for name, ch_type, _ in rollup.measures:
        if ch_type.startswith("SimpleAggregateFunction("):
            function = ch_type[len("SimpleAggregateFunction("):].split(",")[0]
            read = f"{function}({name})"
            sorted_read = f"arraySort({read})" if function.startswith("groupUniqArray") else read
            reads.append(f"{sorted_read} AS {name}")
        elif ch_type.startswith(("AggregateFunction(argMax", "AggregateFunction(uniqExact")):
            function = ch_type[len("AggregateFunction("):].split(",")[0]
            reads.append(f"{function}Merge({name}) AS {name}")
        elif ch_type.startswith("AggregateFunction(uniqCombined(12)"):  # a sketch: merged in any order, the same
            reads.append(f"uniqCombinedMerge(12)({name}) AS {name}")
    return reads


def assert_rollups_match_raw(store) -> dict:
    """Every rollup, grouped by its keys, equals the same rollup built now from llm_usage, to the last digit;
    and the totals equal the raw table's own (count, tokens, costs). Returns the raw totals."""
    database = store.database
    raw = store.query(
        f"SELECT count() AS calls, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,"
        f" toString(sum(ifNull(cost_usd, 0))) AS cost_usd, toString(sum(ifNull(input_cost_usd, 0))) AS input_cost_usd,"
        f" uniqExact(tenant_id, request_id) AS requests FROM {database}.llm_usage"
    )[0]
    for rollup in ROLLUPS:
        keys = ", ".join(name for name, _, _ in rollup.keys)
        # t-digest states merge in any order, so their percentiles differ in the last digits: their groups
        # are compared (latency_hourly, latency_daily), every other measure exactly
        reads = ", ".join([keys] + _readable(rollup))
        stored = store.query(f"SELECT {reads} FROM {database}.{rollup.table} GROUP BY {keys} ORDER BY {keys}")
        fresh = store.query(
            f"SELECT {reads} FROM ({rollup.select(f'{database}.llm_usage')}) GROUP BY {keys} ORDER BY {keys}"
        )
        assert stored == fresh, rollup.table
        if rollup is REQUEST_COUNTS_HOURLY:
            merged = store.query(f"SELECT uniqExactMerge(requests) AS n FROM {database}.{rollup.table}")
            assert merged[0]["n"] == raw["requests"], rollup.table
            continue
        measures = {name for name, _, _ in rollup.measures}
        if rollup.only or "calls" not in measures:
            continue  # a part of the calls, or no counts: equal to the fresh build above is all there is
        totals = store.query("SELECT " + ", ".join(
            read for name, read in (("calls", "sum(calls) AS calls"),
                                    ("input_tokens", "sum(input_tokens) AS input_tokens"),
                                    ("output_tokens", "sum(output_tokens) AS output_tokens"),
                                    ("cost_usd", "toString(sum(cost_usd)) AS cost_usd"),
                                    ("input_cost_usd", "toString(sum(input_cost_usd)) AS input_cost_usd"),
                                    ("requests", "uniqCombinedMerge(12)(requests) AS requests"))
            if name in measures and (name != "requests" or rollup.measures[-1] == REQUEST_SKETCH))
            + f" FROM {database}.{rollup.table}")[0]
        assert totals == {name: raw[name] for name in totals}, rollup.table
    requests = store.query(
        f"SELECT count() AS n FROM (SELECT 1 FROM {database}.requests GROUP BY tenant_id, request_id)")
    assert requests[0]["n"] == raw["requests"]
    return raw
