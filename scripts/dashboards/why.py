"""The "Why the cost changed" panel: `otel-llmcost why` in SQL, for the dashboard's range against the period of
the same length just before it.

The same chain of counterfactual costs as src/otel_llmcost/reports/why.py (its docstring has the method): per
(feature, provider, requested model) segment, the factors of both periods, then the cost after each cause's
step. The CLI computes the intermediate costs in exact fractions, this panel in Float64; both round them to
12 decimals per segment, and the first and last costs are the stored Decimal totals, so here too the causes
add up to the change exactly (tests/test_why.py checks both, and that the two agree to a millionth of a
cent). Over all tenants the request counts are HyperLogLog estimates (exact for small counts, about 1.6 % off
beyond), where the CLI counts exactly: the split between "requests" and "calls per request" can differ by that
much, every other cause and the total not at all.

The query stays small for the planner (the first version's 39 kB of nested column aliases took more time to
plan than to read): a segment's sums are three arrays per period (counts, costs by kind), the usage factors an
array, the units per call of every cost column one lambda over the four states of the chain that differ in
usage (baseline, after prompt, after cache, current), and each layer names only what the next one reads.
"""

from __future__ import annotations

from otel_llmcost.kinds import COST_COLUMNS as KIND_COSTS
from otel_llmcost.kinds import COUNTED
from otel_llmcost.reports.why import CAUSES, CHAIN, FEE_COLUMN, STEP_FACTORS, units_per_call
from scripts.dashboards.sql import EVERY_TENANT, EXACT_COUNT, RANGE, facts, request_counts

#: The baseline: as long as the range, just before it (Grafana's range includes its end, to the second).
BASELINE = ("subtractSeconds($__fromTime, dateDiff('second', $__fromTime, $__toTime))",
            "toDateTime64($__fromTime, 6, 'UTC') - INTERVAL 1 MICROSECOND")
_SEGMENT = ("feature", "provider", "request_model")
#: a segment's counts, in this order in its array n<p>: calls, retries, then every counted kind's
_COUNTS = ("calls", "retry_calls", *(kind.count for kind in COUNTED))
_PRICED = tuple(cost for cost in KIND_COSTS if cost != FEE_COLUMN)  # charged by the unit; the fee by the call
#: the chain's steps that change calls (its first five), and the states of usage per call it passes through
_CALL_STEPS = ("requests", "calls_per_request", "feature_mix", "model_mix", "retries")
_USAGE_STEPS = ("prompt", "cache", "completion")
assert CHAIN == (*_CALL_STEPS, *_USAGE_STEPS, "price")
#: which usage step takes each counted kind's factor to its current value (1: prompt ... 3: completion)
_STEP_OF_COUNT = {name: n for n, step in enumerate(_USAGE_STEPS, 1) for name in STEP_FACTORS[step]}


class _Sql(str):
    """SQL arithmetic text, combined by + - * as reports/why.py combines Fractions."""

    def __add__(self, other: object) -> _Sql:
        return _Sql(other) if self == "0" else _Sql(f"{self} + ({other})")

    def __sub__(self, other: object) -> _Sql:
        return _Sql(f"{self} - ({other})")

    def __mul__(self, other: object) -> _Sql:
        return _Sql(f"({self}) * ({other})")


def _count_factors(p: int) -> str:
    """Per counted kind, its factor in period p: a whole's count per call, a part's share of its whole."""
    index = {name: n for n, name in enumerate(_COUNTS, 1)}
    return "[" + ", ".join(
        f"if(n{p}[{index[kind.part_of]}] > 0, n{p}[{index[kind.count]}] / n{p}[{index[kind.part_of]}], 0)"
        if kind.part_of else f"n{p}[{index[kind.count]}] / n{p}[1]" for kind in COUNTED) + "]"


def _units(f: str, columns: tuple[str, ...]) -> str:
    """Units per call of these cost columns from the count factors in the array `f` (reports/why.py's
    units_per_call, the same expressions)."""
    index = {kind.count: n for n, kind in enumerate(COUNTED, 1)}
    units = units_per_call(lambda name: _Sql(f"{f}[{index[name]}]"), _Sql("1"), _Sql("0"))
    return "[" + ", ".join(units[column] for column in columns) + "]"


def _states() -> str:
    """The count factors of the chain's four usage states: baseline, after prompt, after cache, current."""
    steps = "[" + ", ".join(str(_STEP_OF_COUNT[kind.count]) for kind in COUNTED) + "]"
    return (f"[f0, arrayMap((a, b, s) -> if(s <= 1, b, a), f0, f1, {steps}), "
            f"arrayMap((a, b, s) -> if(s <= 2, b, a), f0, f1, {steps}), f1]")


_FIRST = "toFloat64(if(n{p}[1] > n{p}[2], n{p}[1] - n{p}[2], n{p}[1])) AS first{p}"  # calls that are no retry


def _layers() -> tuple[str, str, str]:
    """The SELECT lists of the layers over a segment's totals: factors, rates, chain (each names only what the
    next one reads: an alias read again in its own SELECT is copied, and copies of copies are what made the
    first version slow to plan)."""
    # the five factors of calls (reports/why.py: requests, calls per request, feature and model share, calls per
    # first attempt); the baseline's and the current units per call of the priced columns
    factors = ("segment, common, n0[1] AS calls0, n1[1] AS calls1, cost_usd0, cost_usd1, "
               + ", ".join(f"toFloat64(if(requests{p} > 0, requests{p}, all{p})) AS r{p}" for p in (0, 1)) + ", "
               + ", ".join(f"[r{p}, all{p} / r{p}, ff{p} / all{p}, first{p} / ff{p}, n{p}[1] / first{p}] AS v{p}"
                           for p in (0, 1))
               + f", {_states()} AS states, arrayMap(f -> {_units('f', _PRICED)}, [f0, f1]) AS priced_units, "
               + ", ".join("[" + ", ".join(f"toFloat64(k{p}[{KIND_COSTS.index(cost) + 1}])" for cost in _PRICED)
                           + f"] AS priced{p}" for p in (0, 1)))
    # each priced column's rate: the baseline's (its cost over its units), else the current's, else 0; what has
    # no units is charged per call, with the fee (as reports/why.py does)
    rates = ("segment, common, v0, v1, states, cost_usd0, cost_usd1, calls0, calls1, "
             "arrayMap(u -> calls0 * u, priced_units[1]) AS q0, "
             "arrayMap((q, c) -> if(q > 0, c / q, NULL), q0, priced0) AS rate0, "
             "arrayMap((u, c) -> if(calls1 * u > 0, c / (calls1 * u), NULL), priced_units[2], priced1) AS rate1, "
             "(toFloat64(cost_usd0) - arraySum(priced0) + arraySum(arrayMap((q, c) -> if(q > 0, 0, c), q0, priced0)))"
             " / calls0 AS fee_rate")
    priced = {cost: n for n, cost in enumerate(_PRICED, 1)}
    rate = "[" + ", ".join("fee_rate" if cost == FEE_COLUMN else f"coalesce(rate0[{priced[cost]}], "
                           f"rate1[{priced[cost]}], 0)" for cost in KIND_COSTS) + "]"
    # c0..c9: the stored baseline cost, the cost after each step (calls after each of the first five, then usage
    # per call after each of the next three, at the baseline's rates), the stored current cost; 0 outside the
    # common segments, whose factors are no numbers
    calls = "arrayMap(n -> arrayProduct(arrayMap(i -> if(i <= n, v1[i], v0[i]), range(1, 6))), range(1, 6))"
    per_call = f"arrayMap(f -> arraySum(arrayMap((u, r) -> u * r, {_units('f', KIND_COSTS)}, rates)), states)"
    chain = (f"segment, common, cost_usd0, cost_usd1, calls0, calls1, {rate} AS rates, {calls} AS calls, "
             f"{per_call} AS per_call, arrayConcat([cost_usd0], arrayMap(x -> toDecimal128(if(common, x, 0), 12), "
             "arrayConcat(arrayMap(c -> c * per_call[1], calls), arrayMap(u -> calls[5] * u, arraySlice(per_call, 2)))"
             "), [cost_usd1]) AS c")
    return factors, rates, chain


def _requests(kind: str, merge: str, names: tuple[str, str]) -> str:
    """Per segment, the merged request states of each period from request_counts()'s CTEs `names`."""
    key, state = ", ".join(_SEGMENT), merge.format("StateIf")
    return (f"(SELECT {key}, {state}(requests, p = 0) AS {kind}0, {state}(requests, p = 1) AS {kind}1\n"
            f"    FROM (SELECT 0 AS p, {key}, requests FROM {names[0]} UNION ALL SELECT 1, {key}, requests"
            f" FROM {names[1]})\n    GROUP BY {key})")


def why_sql() -> str:
    key = ", ".join(_SEGMENT)
    keep = _SEGMENT + _COUNTS + KIND_COSTS + ("cost_usd",)
    arrays = ", ".join(f"sumForEachIf([{', '.join(names)}], p = {p}) AS {a}{p}" for p in (0, 1)
                       for a, names in (("n", _COUNTS), ("k", KIND_COSTS)))
    columns = ", ".join(keep)
    causes = dict(CAUSES)
    labels = ", ".join(f"'{causes[cause]}'" for cause in (*CHAIN, "new", "vanished"))
    zero = "toDecimal128(0, 12)"
    factors, rates, chain = _layers()
    row = ("segment", "feature", "common", "n0", "n1", "k0", "k1", "cost_usd0", "cost_usd1", "first0", "first1")
    # requests: per segment sketches (over all tenants) merged over the common ones; exact sets (otherwise) in one
    # state per period over the rows of the common segments, named once as a constant (per-segment exact sets
    # of a busy tenant would be held all at once: over the listener's memory limit)
    by_period = ", ".join(
        f"sumIf(first{p}, common) AS all{p}, sumMapIf([feature], [first{p}], common) AS by_feature{p}, "
        f"uniqCombinedMergeIf(12)(sketch{p}, common) + exact{p} AS requests{p}" for p in (0, 1))
    common = f"has(common_segments, ({key}))"
    exact = ",\n".join(f"(SELECT {EXACT_COUNT} FROM {name}_exact WHERE {common}) AS exact{p}"
                        for p, name in ((0, "rbase"), (1, "rcounts")))
    # the segments' rows once, with the totals of the common ones (first attempts, by feature, requests), then a
    # row per segment again; per segment its 9 chain steps' changes, and its cost if new or vanished
    return f"""WITH {facts(RANGE, by_day=True, keep=keep)},
{facts(BASELINE, by_day=True, name="base", keep=keep)},
{request_counts(RANGE, by="segment")},
{request_counts(BASELINE, name="rbase", by="segment")},
(SELECT groupArray(({key})) FROM (SELECT {key}
  FROM (SELECT 0 AS p, {key}, calls FROM base UNION ALL SELECT 1 AS p, {key}, calls FROM facts)
  WHERE NOT ({EVERY_TENANT})
  GROUP BY {key} HAVING sumIf(calls, p = 0) > 0 AND sumIf(calls, p = 1) > 0)) AS common_segments,
{exact}
SELECT [{labels}][k] AS cause, sum(change) AS change_usd, if(change_usd = 0, '', argMax(segment, abs(change))) AS mostly
FROM (SELECT segment, arrayJoin(arrayZip(range(1, {len(CHAIN) + 3}), arrayConcat(
    arrayMap(i -> if(common, c[i + 1] - c[i], {zero}), range(1, {len(CHAIN) + 1})),
    [if(calls0 = 0, cost_usd1, {zero}), if(calls1 = 0, -cost_usd0, {zero})]))) AS kc, kc.1 AS k, kc.2 AS change
FROM (SELECT {chain}
FROM (SELECT {rates}
FROM (SELECT {factors}
FROM (SELECT {", ".join(f"s.{n} AS {name}" for n, name in enumerate(row, 1))}, all0, all1, requests0, requests1,
    by_feature0.2[indexOf(by_feature0.1, feature)] AS ff0, by_feature1.2[indexOf(by_feature1.1, feature)] AS ff1,
    {_count_factors(0)} AS f0, {_count_factors(1)} AS f1
FROM (SELECT groupArray(({", ".join(row)})) AS segments, {by_period}
  FROM (SELECT concat(feature, ' ', provider, '/', request_model) AS segment, *, n0[1] > 0 AND n1[1] > 0 AS common,
      {_FIRST.format(p=0)}, {_FIRST.format(p=1)}
    FROM (SELECT {key}, {arrays}, sumIf(cost_usd, p = 0) AS cost_usd0, sumIf(cost_usd, p = 1) AS cost_usd1
      FROM (SELECT 0 AS p, {columns} FROM base UNION ALL SELECT 1 AS p, {columns} FROM facts)
      GROUP BY {key}) AS s
    LEFT JOIN {_requests("sketch", "uniqCombinedMerge{}(12)", ("rbase", "rcounts"))} AS k USING ({key})))
ARRAY JOIN segments AS s)))))
GROUP BY k
ORDER BY abs(change_usd) DESC, cause"""
