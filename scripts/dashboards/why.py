"""The "Why the cost changed" panel: `otel-llmcost why` in SQL, for the dashboard's range against the period of
the same length just before it.

The same chain of counterfactual costs as src/otel_llmcost/reports/why.py (its docstring has the method): per
(feature, provider, requested model) segment, the factors of both periods, then the cost after each cause's
step. The CLI computes the intermediate costs in exact fractions, this panel in Float64; both round them to
12 decimals per segment, and the first and last costs are the stored Decimal totals, so here too the causes
add up to the change exactly (tests/test_grafana.py checks both, and that the two agree to a millionth of a
cent). Over all tenants the request counts are HyperLogLog estimates (exact for small counts, about 1.6 % off
beyond), where the CLI counts exactly: the split between "requests" and "calls per request" can differ by that
much, every other cause and the total not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_llmcost.kinds import COST_COLUMNS as KIND_COSTS
from otel_llmcost.kinds import COUNTED
from otel_llmcost.reports.why import CAUSES, CHAIN, FEE_COLUMN, STEP_FACTORS, units_per_call
from scripts.dashboards.sql import RANGE, count_requests, facts, request_counts

#: The baseline: as long as the range, just before it (Grafana's range includes its end, to the second).
BASELINE = ("subtractSeconds($__fromTime, dateDiff('second', $__fromTime, $__toTime))",
            "toDateTime64($__fromTime, 6, 'UTC') - INTERVAL 1 MICROSECOND")
_SUMS = ("calls", "retry_calls", *(kind.count for kind in COUNTED))
_COSTS = (*KIND_COSTS, "cost_usd")
_PRICED = tuple(cost for cost in KIND_COSTS if cost != FEE_COLUMN)  # charged by the unit; the fee by the call
#: every factor of the chain (reports/why.py's names), each a column x_<name><period> here
_FACTORS = tuple(dict.fromkeys(name for step in CHAIN[:-1] for name in STEP_FACTORS[step]))
_CALLS = ("requests", "calls_per_request", "feature_share", "model_share", "calls_per_first")  # their product


@dataclass(frozen=True)
class _Sql:
    """SQL arithmetic text, combined by + - * as reports/why.py combines Fractions."""

    text: str

    def __add__(self, other: _Sql) -> _Sql:
        return other if self.text == "0" else _Sql(f"{self.text} + ({other.text})")

    def __sub__(self, other: _Sql) -> _Sql:
        return _Sql(f"{self.text} - ({other.text})")

    def __mul__(self, other: _Sql) -> _Sql:
        return _Sql(f"({self.text}) * ({other.text})")


def _share(part: str, whole: str, p: int) -> str:
    return f"if({whole}{p} > 0, {part}{p} / {whole}{p}, 0)"


def _factors(p: int) -> str:
    """The factors of period p (0 baseline, 1 current) of a common segment, as Float64 columns."""
    first = f"if(calls{p} > retry_calls{p}, calls{p} - retry_calls{p}, calls{p})"
    counts = (_share(kind.count, kind.part_of, p) if kind.part_of else f"{kind.count}{p} / calls{p}"
              for kind in COUNTED)
    return ",\n    ".join((
        f"toFloat64({first}) AS first{p}",
        f"toFloat64(if(requests{p} > 0, requests{p}, sum(first{p}) OVER ())) AS x_requests{p}",
        f"sum(first{p}) OVER () / x_requests{p} AS x_calls_per_request{p}",
        f"sum(first{p}) OVER (PARTITION BY feature) / sum(first{p}) OVER () AS x_feature_share{p}",
        f"first{p} / sum(first{p}) OVER (PARTITION BY feature) AS x_model_share{p}",
        f"calls{p} / first{p} AS x_calls_per_first{p}",
        *(f"{count} AS x_{kind.count}{p}" for kind, count in zip(COUNTED, counts, strict=True)),
    ))


def _units(periods: dict[str, int]) -> dict[str, _Sql]:
    """Units per call of each cost column, each factor taken from the period `periods` names."""
    return units_per_call(lambda name: _Sql(f"x_{name}{periods[name]}"), _Sql("1"), _Sql("0"))


def _rates() -> str:
    """Each cost column's rate: the baseline's (its cost over its units), else the current's, else 0; what has
    no units is charged per call, with the fee (as reports/why.py does)."""
    columns = []
    for p in (0, 1):
        units = _units(dict.fromkeys(_FACTORS, p))
        for cost in _PRICED:
            columns.append(f"calls{p} * ({units[cost].text}) AS q_{cost}{p}")
            columns.append(f"if(q_{cost}{p} > 0, toFloat64({cost}{p}) / q_{cost}{p}, NULL) AS rate_{cost}{p}")
    for cost in _PRICED:
        columns.append(f"coalesce(rate_{cost}0, rate_{cost}1, 0) AS rate_{cost}")
    unpriced = " + ".join(f"if(q_{cost}0 > 0, 0, toFloat64({cost}0))" for cost in _PRICED)
    parts = " - ".join(f"toFloat64({cost}0)" for cost in _PRICED)
    columns.append(f"(toFloat64(cost_usd0) - {parts} + {unpriced}) / calls0 AS rate_{FEE_COLUMN}")
    return ",\n    ".join(columns)


def _cost(periods: dict[str, int]) -> str:
    calls = " * ".join(f"x_{name}{periods[name]}" for name in _CALLS)
    units = _units(periods)
    per_call = " + ".join(f"({units[cost].text}) * rate_{cost}" for cost in KIND_COSTS)
    return f"toDecimal128({calls} * ({per_call}), 12)"


def _chain() -> str:
    """c0..c9: the stored baseline cost, the cost after each step, the stored current cost."""
    periods = dict.fromkeys(_FACTORS, 0)
    costs = ["cost_usd0 AS c0"]
    for n, step in enumerate(CHAIN[:-1], 1):
        periods |= dict.fromkeys(STEP_FACTORS[step], 1)
        costs.append(f"{_cost(periods)} AS c{n}")
    costs.append(f"cost_usd1 AS c{len(CHAIN)}")
    return ",\n    ".join(costs)


def why_sql() -> str:
    sums = ",\n    ".join(f"sumIf({name}, p = {p}) AS {name}{p}" for p in (0, 1) for name in _SUMS + _COSTS)
    columns = ", ".join(("feature", "provider", "request_model") + _SUMS + _COSTS)
    segment = "(feature, provider, request_model)"
    causes = dict(CAUSES)
    chain = ",\n  ".join(f"('{cause}', '{causes[cause]}', sum(c{n} - c{n - 1}), if(sum(c{n} - c{n - 1}) = 0, '', "
                         f"argMax(concat(feature, ' ', provider, '/', request_model), abs(c{n} - c{n - 1}))))"
                         for n, cause in enumerate(CHAIN, 1))
    common = f"{segment} IN (SELECT feature, provider, request_model FROM segments WHERE calls0 > 0 AND calls1 > 0)"
    keep = ("feature", "provider", "request_model") + _SUMS + _COSTS
    named = ["feature", "provider", "request_model"] + [f"{name}{p}" for p in (0, 1) for name in _SUMS + _COSTS]
    # the segments once, as a constant (a scalar subquery runs once; a CTE runs again wherever it is named)
    return f"""WITH {facts(RANGE, by_day=True, keep=keep)},
{facts(BASELINE, by_day=True, name="base", keep=keep)},
{request_counts(RANGE, by="segment")},
{request_counts(BASELINE, name="rbase", by="segment")},
(SELECT groupArray(({", ".join(named)})) FROM (
  SELECT feature, provider, request_model,
    {sums}
  FROM (SELECT 0 AS p, {columns} FROM base UNION ALL SELECT 1 AS p, {columns} FROM facts)
  GROUP BY feature, provider, request_model)) AS segment_rows,
segments AS (
  SELECT {", ".join(f"s.{n} AS {name}" for n, name in enumerate(named, 1))}
  FROM (SELECT arrayJoin(segment_rows) AS s)
),
common AS (
  SELECT *,
    {count_requests("rbase", common)} AS requests0,
    {count_requests("rcounts", common)} AS requests1
  FROM segments WHERE calls0 > 0 AND calls1 > 0
),
factors AS (
  SELECT *,
    {_factors(0)},
    {_factors(1)}
  FROM common
),
rated AS (
  SELECT *,
    {_rates()}
  FROM factors
),
chain AS (
  SELECT feature, provider, request_model,
    {_chain()}
  FROM rated
),
causes AS (
  SELECT tupleElement(row, 1) AS cause, tupleElement(row, 2) AS what, tupleElement(row, 3) AS change_usd,
    tupleElement(row, 4) AS mostly
  FROM (SELECT arrayJoin([
  {chain}
  ]) AS row FROM chain)
  UNION ALL
  SELECT 'new', '{causes["new"]}', sum(cost_usd1), argMax(concat(feature, ' ', provider, '/', request_model), cost_usd1)
  FROM segments WHERE calls0 = 0
  UNION ALL
  SELECT 'vanished', '{causes["vanished"]}', -sum(cost_usd0),
    argMax(concat(feature, ' ', provider, '/', request_model), cost_usd0)
  FROM segments WHERE calls1 = 0
)
SELECT what AS cause, sum(change_usd) AS change_usd, any(mostly) AS mostly
FROM causes GROUP BY what
ORDER BY abs(change_usd) DESC, what"""
