"""The SQL of reconciliation, `prices drift`, the FOCUS export and statements (values are query parameters;
identifiers and the billed kinds' expressions are formatted in)."""

from __future__ import annotations

from otel_llmcost.reports.billed_kinds import BILLED_KINDS
from otel_llmcost.store.rollups import BILLED_MODEL

_MODEL = BILLED_MODEL  # the model a call is billed under (the statement's and the FOCUS export's)
_IN_RANGE = "u.ts >= {since:DateTime64(6, 'UTC')} AND u.ts < {until:DateTime64(6, 'UTC')}"
_KIND_SUMS = ",\n    ".join(
    f"sum({kind.quantity}) AS {kind.name}_quantity, sum(ifNull({kind.cost}, 0)) AS {kind.name}_usd"
    for kind in BILLED_KINDS)


def stored_calls(database: str) -> str:
    """Our side of a reconciliation: calls, quantities and costs by billed kind per UTC day, provider, model
    (the one the provider answered with, else the one asked for) and tenant."""
    return f"""
SELECT toString(toDate(u.ts)) AS day, u.provider AS provider, {_MODEL} AS model, u.tenant_id AS tenant,
    count() AS calls, countIf(u.cost_usd IS NULL) AS unpriced_calls,
    {_KIND_SUMS},
    sum(ifNull(u.cost_usd, 0)) AS cost_usd
FROM {database}.llm_usage AS u
WHERE {_IN_RANGE} AND u.provider IN {{providers:Array(String)}}
GROUP BY day, provider, model, tenant
"""


RECONCILIATION_COLUMNS = (
    ("run_id", "String"), ("reconciled_at", "DateTime64(3, 'UTC')"), ("source", "LowCardinality(String)"),
    ("day", "Date"), ("provider", "LowCardinality(String)"), ("model_key", "LowCardinality(String)"),
    ("model", "LowCardinality(String)"),
    ("tenant_id", "LowCardinality(String)"), ("billed_usd", "Decimal(38, 12)"), ("ours_usd", "Decimal(38, 12)"),
    ("gap_usd", "Decimal(38, 12)"), ("billed_tokens", "UInt64"), ("our_tokens", "UInt64"), ("calls", "UInt64"),
    ("unpriced_calls", "UInt64"), ("status", "LowCardinality(String)"), ("reason", "String"),
)


def cost_drift(database: str) -> str:
    """Calls whose span carried a cost (the provider's, a gateway's or the instrumentation's own) beside ours,
    per provider and model: totals, how many differ by more than {tolerance} (a share), and examples."""
    return f"""
SELECT u.provider AS provider, {_MODEL} AS model, count() AS calls,
    sum(u.emitter_cost_usd) AS emitter_usd, sum(u.cost_usd) AS ours_usd,
    sum(u.emitter_cost_usd) - sum(u.cost_usd) AS difference_usd,
    countIf(abs(u.emitter_cost_usd - u.cost_usd)
            > {{tolerance:Decimal(38, 12)}} * greatest(u.cost_usd, u.emitter_cost_usd)) AS differing_calls,
    arraySlice(groupArrayIf((u.trace_id, u.span_id, toString(u.ts), toString(u.emitter_cost_usd), toString(u.cost_usd),
                             u.input_tokens, u.output_tokens, u.price_id),
        abs(u.emitter_cost_usd - u.cost_usd)
            > {{tolerance:Decimal(38, 12)}} * greatest(u.cost_usd, u.emitter_cost_usd)),
        1, 3) AS examples
FROM {database}.llm_usage AS u
WHERE {_IN_RANGE} AND u.emitter_cost_usd IS NOT NULL AND u.cost_usd IS NOT NULL
GROUP BY provider, model
HAVING differing_calls > 0
ORDER BY abs(difference_usd) DESC, provider, model
"""


def focus_usage(database: str) -> str:
    """A month's calls by UTC day, tenant, environment, project, feature, provider, model and contract multiplier,
    with each billed kind's quantity and cost: the FOCUS export's rows before they are split by kind (the list cost,
    before the multiplier, is divided out in Decimal by the caller)."""
    return f"""
SELECT toString(toDate(u.ts)) AS day, u.tenant_id AS tenant, u.environment AS environment, u.project AS project,
    u.feature AS feature, u.provider AS provider, {_MODEL} AS model, toString(u.price_multiplier) AS multiplier,
    count() AS calls, countIf(u.cost_usd IS NULL) AS unpriced_calls,
    {_KIND_SUMS}
FROM {database}.llm_usage AS u
WHERE {_IN_RANGE} AND ({{tenant:String}} = '' OR u.tenant_id = {{tenant:String}})
GROUP BY day, tenant, environment, project, feature, provider, model, multiplier
ORDER BY day, tenant, environment, project, feature, provider, model, multiplier
"""
