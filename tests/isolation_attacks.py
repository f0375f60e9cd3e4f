"""The store and the attacks of the isolation tests: a victim tenant whose every value carries VSECRET, and
queries that would reveal a victim row if any expression of theirs ran on one.

Every oracle below is true (or throws) only on a row that is not the attacker's: with the engine's row
policy in force it never fires, and no answer or error ever quotes VSECRET.
"""

from __future__ import annotations

from dataclasses import dataclass

ATTACKER = "acme"
VICTIM = "VSECRET-tenant"
BYSTANDER = "globex"  # a third tenant whose calls arrive while the attacker watches
SECRET = "VSECRET"
VICTIM_CALLS = 37  # a count the attacker must never learn
ATTACKER_CALLS = 5
TRACE_PREFIX = {ATTACKER: "acac", VICTIM: "ffff"}  # hex trace ids of the calls sent through OTLP


@dataclass(frozen=True)
class Target:
    """A served table and, in its columns, what is true only of other tenants' rows, and a String that
    quotes a victim's secret when evaluated on a victim's row."""

    table: str
    other: str
    secret: str


_TENANT_ID = "tenant_id != 'acme'"
TARGETS = [Target(table, _TENANT_ID, "toString(tenant_id)") for table in (
    "usage_hourly", "usage_daily", "requests", "request_counts_hourly", "errors_hourly", "users_daily",
    "latency_hourly", "latency_daily", "projects_hourly",
    "features_hourly", "features_daily", "users_hourly", "projects_daily",
    "sessions_daily", "session_peaks_daily", "statement_hourly", "statement_daily")] + [
    Target("llm_usage", _TENANT_ID, "concat(feature, '|', user_id, '|', request_id)"),
    Target("rejected_calls", _TENANT_ID, "concat(reason, span)"),
    Target("reconciliations", _TENANT_ID, "concat(model, reason)"),  # ReplacingMergeTree, tenant last in its key
    Target("otel_traces", "SpanAttributes['otel_llmcost.tenant'] != 'acme'", "SpanAttributes['prompt']"),
    Target("otel_traces_trace_id_ts", "NOT (TraceId LIKE 'acme%' OR TraceId LIKE 'acac%')", "TraceId"),
]

# Each form runs against every target: {t} the table, {o} the other-tenant condition, {s} the secret.
# The clause each form attacks is its name's first word.
FORMS = {
    "prewhere throwIf": "SELECT count() FROM {t} PREWHERE throwIf({o}) = 0",
    "prewhere cast": "SELECT count() FROM {t} PREWHERE toUInt64(if({o}, {s}, '0')) = 0",
    "where throwIf": "SELECT count() FROM {t} WHERE throwIf({o}) = 0",
    "where cast": "SELECT count() FROM {t} WHERE toUInt64(if({o}, {s}, '0')) = 0",
    "where division": "SELECT count() FROM {t} WHERE intDiv(1, if({o}, 0, 1)) = 1",
    "where sleep": "SELECT count() FROM {t} WHERE if({o}, sleepEachRow(3), 0) = 0",
    "where parse-date": "SELECT count() FROM {t} WHERE toDate(if({o}, {s}, '2020-01-01')) > '2000-01-01'",
    "where multiIf": "SELECT count() FROM {t} WHERE multiIf({o}, throwIf(1), 1) = 1",
    "where indexHint": "SELECT count() FROM {t} WHERE indexHint(throwIf({o}) = 0) AND 1",
    "join-on throwIf": "SELECT count() FROM (SELECT 1 AS k) AS b JOIN {t} AS a ON b.k = 1 AND throwIf({o}) = 0",
    "join-comma cast": "SELECT count() FROM (SELECT 1 AS k) AS b, {t} WHERE toUInt64(if({o}, {s}, '0')) = 0",
    "join-on right side": "SELECT count() FROM (SELECT 1 AS k) AS b LEFT JOIN (SELECT *, 1 AS k FROM {t}) AS a "
                          "ON a.k = b.k AND toUInt64(if({o}, {s}, '0')) = 0",
    "having throwIf": "SELECT count() FROM {t} GROUP BY {s} HAVING throwIf(countIf({o}) > 0) = 0",
    "having cast": "SELECT 1 FROM {t} GROUP BY {s} HAVING toUInt64(if(max({o}), any({s}), '0')) = 0",
    "order-by throwIf": "SELECT 1 FROM {t} ORDER BY throwIf({o})",
    "order-by cast": "SELECT 1 FROM {t} ORDER BY toUInt64(if({o}, {s}, '0'))",
    "window partition": "SELECT count() OVER (PARTITION BY throwIf({o})) FROM {t}",
    "window frame": "SELECT sum(toUInt64(if({o}, {s}, '0'))) OVER (ORDER BY 1 ROWS BETWEEN 2 PRECEDING "
                    "AND CURRENT ROW) FROM {t}",
    "qualify throwIf": "SELECT 1 FROM {t} QUALIFY throwIf({o}) = 0",
    "arrayJoin cast": "SELECT arrayJoin([toUInt64(if({o}, {s}, '0'))]) FROM {t}",
    "array-join clause": "SELECT x FROM {t} ARRAY JOIN [throwIf({o})] AS x",
    "lambda arrayExists": "SELECT count() FROM {t} WHERE NOT arrayExists(x -> throwIf(x) = 1, [{o}])",
    "lambda arrayMap cast": "SELECT arrayMap(x -> toUInt64(x), [if({o}, {s}, '0')]) FROM {t}",
    "lambda arrayFold": "SELECT arrayFold((acc, x) -> acc + throwIf(x), [{o}], toUInt64(0)) FROM {t}",
    "subquery from": "SELECT count() FROM (SELECT * FROM {t} WHERE throwIf({o}) = 0)",
    "subquery in": "SELECT 1 WHERE 0 IN (SELECT throwIf({o}) FROM {t})",
    "subquery scalar": "SELECT (SELECT groupArray({s}) FROM {t})",
    "subquery exists": "SELECT 1 WHERE EXISTS (SELECT 1 FROM {t} WHERE throwIf({o}) = 0)",
    "cte subquery": "WITH v AS (SELECT * FROM {t} PREWHERE throwIf({o}) = 0) SELECT count() FROM v",
    "cte scalar": "WITH (SELECT groupArray({s}) FROM {t}) AS leaked SELECT leaked",
    "union all": "SELECT count() FROM (SELECT 1 FROM {t} WHERE throwIf({o}) = 0 UNION ALL SELECT 1)",
    "except": "SELECT {s} FROM {t} EXCEPT SELECT 'none'",
    "limit-by": "SELECT 1 FROM {t} LIMIT 1 BY toUInt64(if({o}, {s}, '0'))",
    "rollup totals": "SELECT {s}, count() FROM {t} GROUP BY {s} WITH TOTALS",
    "distinct secret": "SELECT DISTINCT {s} FROM {t}",
    "count other": "SELECT count() FROM {t} WHERE {o}",
    "existence": "SELECT count() > 0 FROM {t} WHERE position({s}, 'VSECRET') > 0",
}


def form_sql(form: str, target: Target) -> str:
    return FORMS[form].format(t=f"llmcost.{target.table}", o=target.other, s=target.secret)


def seed_statements() -> list[str]:
    """Rows of both tenants in the same granules of every tenant table (the rollups fill from llm_usage). The
    attacker's calls span two hours or more, so it has several rows in every hourly rollup: an expression
    evaluated on all of its rows (an `if`'s untaken branch) does not depend on the time the tests run."""
    usage = []
    for tenant, calls in ((ATTACKER, ATTACKER_CALLS), (VICTIM, VICTIM_CALLS)):
        for n in range(calls):
            owner = "acme" if tenant == ATTACKER else SECRET
            minutes = n * 20 if tenant == ATTACKER else n
            usage.append(f"(now64(6) - INTERVAL {minutes} MINUTE, '{tenant}', '{owner}-feature', '{owner}-user-{n}', "
                         f"'{owner}-req-{n}', '{owner}-session-{n % 2}', 'gpt-4o', {n + 1}, 1.25, "
                         f"'{'error' if n % 3 else 'ok'}', "
                         f"'{owner}-error', 120.5, ['{owner}-tag'], {{'k': '{owner}-meta'}})")
    traces = [f"(now64(9), '{'acme' if t == ATTACKER else SECRET}-trace-{n}', 'span{n}', 'svc', 'chat', "
              f"{{'otel_llmcost.tenant': '{t}', 'prompt': '{'acme' if t == ATTACKER else SECRET}-prompt-{n}'}})"
              for t, calls in ((ATTACKER, ATTACKER_CALLS), (VICTIM, VICTIM_CALLS)) for n in range(calls)]
    rejected = [f"(now64(3), '{owner}-trace', 'span', '{tenant}', '{owner}-reason', '{{\"x\": \"{owner}-span\"}}')"
                for tenant, owner in ((ATTACKER, "acme"), (VICTIM, SECRET))]
    return [
        "INSERT INTO llmcost.llm_usage (ts, tenant_id, feature, user_id, request_id, session_id, request_model,"
        " input_tokens,"
        " cost_usd, status, error_type, latency_ms, tags, metadata) VALUES " + ", ".join(usage),
        "INSERT INTO llmcost.otel_traces (Timestamp, TraceId, SpanId, ServiceName, SpanName, SpanAttributes) VALUES "
        + ", ".join(traces),
        "INSERT INTO llmcost.rejected_calls (ts, trace_id, span_id, tenant_id, reason, span) VALUES "
        + ", ".join(rejected),
        # Both tenants on the same provider, day and model: neighbours in the sorting key, FINAL's merge input.
        "INSERT INTO llmcost.reconciliations (day, provider, model_key, model, tenant_id, reason) VALUES "
        + ", ".join(f"(today() - {day}, 'openai', 'gpt-4o', '{owner}-model', '{tenant}', '{owner}-reason')"
                    for day in range(3) for tenant, owner in ((ATTACKER, "acme"), (VICTIM, SECRET))),
        # What an operator might add: a dictionary, a Merge table and a view over the usage table.
        ("CREATE DICTIONARY llmcost.req_dict (request_id String, tenant_id String) PRIMARY KEY request_id "
         "SOURCE(CLICKHOUSE(DB 'llmcost' TABLE 'llm_usage')) LAYOUT(COMPLEX_KEY_HASHED()) LIFETIME(0)"),
        "CREATE TABLE llmcost.all_usage ENGINE = Merge('llmcost', '^llm_usage$')",
        "CREATE VIEW llmcost.usage_view AS SELECT * FROM llmcost.llm_usage",
    ]
