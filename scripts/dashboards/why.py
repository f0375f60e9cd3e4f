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

from otel_llmcost.reports.why import CAUSES
from scripts.dashboards.sql import RANGE, count_requests, facts, request_counts

#: The baseline: as long as the range, just before it (Grafana's range includes its end, to the second).
BASELINE = ("subtractSeconds($__fromTime, dateDiff('second', $__fromTime, $__toTime))",
            "toDateTime64($__fromTime, 6, 'UTC') - INTERVAL 1 MICROSECOND")
_SUMS = ("calls", "retry_calls", "input_tokens", "cache_read_tokens", "cache_write_tokens", "audio_input_tokens",
         "image_input_tokens", "output_tokens", "reasoning_tokens", "audio_output_tokens", "image_output_tokens",
         "web_searches")
#: pricing's kinds: (kind, its cost column, its quantity per call over the factors named without their period)
_KINDS = (
    ("uncached_input", "input_cost_usd", "P * (1 - h - w - ain - iin)"),
    ("cache_read", "cache_read_cost_usd", "P * h"),
    ("cache_write", "cache_write_cost_usd", "P * w"),
    ("visible_output", "output_cost_usd", "O * (1 - rs - aout - iout)"),
    ("reasoning", "reasoning_cost_usd", "O * rs"),
    ("audio", "audio_cost_usd", "P * ain + O * aout"),
    ("image", "image_cost_usd", "P * iin + O * iout"),
    ("search", "search_fee_usd", "S"),
)
_COSTS = tuple(cost for _, cost, _ in _KINDS) + ("request_fee_usd", "cost_usd")
#: the factors each step of the chain replaces, in CAUSES order (as reports/why.py's _STEP_FACTORS)
_STEPS = (("requests", ("R",)), ("calls_per_request", ("k",)), ("feature_mix", ("phi",)), ("model_mix", ("g",)),
          ("retries", ("r",)), ("prompt", ("P", "ain", "iin")), ("cache", ("h", "w")),
          ("completion", ("O", "rs", "aout", "iout", "S")))
_FACTORS = ("R", "k", "phi", "g", "r", "P", "h", "w", "ain", "iin", "O", "rs", "aout", "iout", "S")


def _share(part: str, whole: str, p: int) -> str:
    return f"if({whole}{p} > 0, {part}{p} / {whole}{p}, 0)"


def _factors(p: int) -> str:
    """The factors of period p (0 baseline, 1 current) of a common segment, as Float64 columns."""
    first = f"if(calls{p} > retry_calls{p}, calls{p} - retry_calls{p}, calls{p})"
    return ",\n    ".join((
        f"toFloat64({first}) AS first{p}",
        f"toFloat64(if(requests{p} > 0, requests{p}, sum(first{p}) OVER ())) AS R{p}",
        f"sum(first{p}) OVER () / R{p} AS k{p}",
        f"sum(first{p}) OVER (PARTITION BY feature) / sum(first{p}) OVER () AS phi{p}",
        f"first{p} / sum(first{p}) OVER (PARTITION BY feature) AS g{p}",
        f"calls{p} / first{p} AS r{p}",
        f"input_tokens{p} / calls{p} AS P{p}", f"output_tokens{p} / calls{p} AS O{p}",
        f"web_searches{p} / calls{p} AS S{p}",
        f"{_share('cache_read_tokens', 'input_tokens', p)} AS h{p}",
        f"{_share('cache_write_tokens', 'input_tokens', p)} AS w{p}",
        f"{_share('audio_input_tokens', 'input_tokens', p)} AS ain{p}",
        f"{_share('image_input_tokens', 'input_tokens', p)} AS iin{p}",
        f"{_share('reasoning_tokens', 'output_tokens', p)} AS rs{p}",
        f"{_share('audio_output_tokens', 'output_tokens', p)} AS aout{p}",
        f"{_share('image_output_tokens', 'output_tokens', p)} AS iout{p}",
    ))


def _at(expression: str, periods: dict[str, int]) -> str:
    """`expression` over the factors, each taken from the period `periods` names."""
    words = expression.replace("(", " ( ").replace(")", " ) ").split()
    return " ".join(f"{word}{periods[word]}" if word in periods else word for word in words)


def _rates() -> str:
    """Each kind's rate: the baseline's (its cost over its quantity), else the current's, else 0; what has no
    quantity is charged per call, with the fees (as reports/why.py does)."""
    columns = []
    for p in (0, 1):
        for kind, cost, quantity in _KINDS:
            columns.append(f"calls{p} * ({_at(quantity, dict.fromkeys(_FACTORS, p))}) AS q_{kind}{p}")
            columns.append(f"if(q_{kind}{p} > 0, toFloat64({cost}{p}) / q_{kind}{p}, NULL) AS rate_{kind}{p}")
    for kind, _, _ in _KINDS:
        columns.append(f"coalesce(rate_{kind}0, rate_{kind}1, 0) AS rate_{kind}")
    unpriced = " + ".join(f"if(q_{kind}0 > 0, 0, toFloat64({cost}0))" for kind, cost, _ in _KINDS)
    parts = " - ".join(f"toFloat64({cost}0)" for _, cost, _ in _KINDS)
    columns.append(f"(toFloat64(cost_usd0) - {parts} + {unpriced}) / calls0 AS rate_fee")
    return ",\n    ".join(columns)


def _cost(periods: dict[str, int]) -> str:
    calls = " * ".join(f"{name}{periods[name]}" for name in ("R", "k", "phi", "g", "r"))
    per_call = " + ".join(f"({_at(quantity, periods)}) * rate_{kind}" for kind, _, quantity in _KINDS)
    return f"toDecimal128({calls} * ({per_call} + rate_fee), 12)"


def _chain() -> str:
    """c0..c9: the stored baseline cost, the cost after each step, the stored current cost."""
    periods = dict.fromkeys(_FACTORS, 0)
    costs = ["cost_usd0 AS c0"]
    for n, (_, names) in enumerate(_STEPS, 1):
        periods |= dict.fromkeys(names, 1)
        costs.append(f"{_cost(periods)} AS c{n}")
    costs.append(f"cost_usd1 AS c{len(_STEPS) + 1}")
    return ",\n    ".join(costs)


def why_sql() -> str:
    sums = ",\n    ".join(f"sumIf({name}, p = {p}) AS {name}{p}" for p in (0, 1) for name in _SUMS + _COSTS)
    columns = ", ".join(("feature", "provider", "request_model") + _SUMS + _COSTS)
    segment = "(feature, provider, request_model)"
    causes = dict(CAUSES)
    chain = ",\n  ".join(f"('{cause}', '{causes[cause]}', sum(c{n} - c{n - 1}), if(sum(c{n} - c{n - 1}) = 0, '', "
                         f"argMax(concat(feature, ' ', provider, '/', request_model), abs(c{n} - c{n - 1}))))"
                         for n, (cause, _) in enumerate(_STEPS + (("price", ()),), 1))
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
