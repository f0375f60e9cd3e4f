"""The reports' SQL against llm_usage (the DDL lives in clickhouse/*.sql, the flusher's lookup in
flush/queries.py).

Identifiers ({database}, a group-by expression from a fixed list) are formatted in; values are always
ClickHouse query parameters ({name:Type}), which both chDB and clickhouse-driver bind server-side.
"""

from __future__ import annotations

from datetime import datetime

from otel_llmcost.kinds import COUNTS
from otel_llmcost.store import sql_time

_USAGE = ", ".join(COUNTS)  # every count pricing reads


def time_range(since: datetime, until: datetime) -> dict[str, str]:
    """The {since} / {until} parameters of the queries below: ts >= since AND ts < until."""
    return {"since": sql_time(since), "until": sql_time(until)}


# --- otel-llmcost reprice (repricing.py) ---------------------------------------------------------------

_IN_RANGE = "ts >= {since:DateTime64(6, 'UTC')} AND ts < {until:DateTime64(6, 'UTC')}"

REPRICE_RUN_COLUMNS = (
    ("run_id", "String"), ("started_at", "DateTime64(3, 'UTC')"), ("finished_at", "DateTime64(3, 'UTC')"),
    ("since", "DateTime64(6, 'UTC')"), ("until", "DateTime64(6, 'UTC')"), ("dry_run", "Bool"),
    ("price_book_version", "String"), ("rows", "UInt64"), ("changed_rows", "UInt64"),
    ("old_total_usd", "Nullable(Decimal(38, 12))"), ("new_total_usd", "Nullable(Decimal(38, 12))"),
    ("by_model", "String"),
)


def partitions(database: str) -> str:
    return f"SELECT DISTINCT _partition_id AS partition FROM {database}.llm_usage WHERE {_IN_RANGE} ORDER BY partition"


def priced_rows(database: str) -> str:
    """What pricing needs of each call in range (flagged usage keeps its status)."""
    return f"""
SELECT trace_id, span_id, toString(ts) AS started, tenant_id, provider, operation, request_model, response_model,
       service_tier, {_USAGE}, cost_usd, cost_status, price_id,
       if(response_model != '', response_model, request_model) AS model
FROM {database}.llm_usage
WHERE _partition_id = {{partition:String}} AND {_IN_RANGE} AND cost_status != 'invalid_usage'
"""


def reprice_costs_table(database: str, cost_columns: tuple[tuple[str, str], ...]) -> list[str]:
    """The new costs, keyed by call, in a Join table that joinGet reads from inside the mutation."""
    costs = ", ".join(f"{name} {ch_type}" for name, ch_type in cost_columns)
    return [
        drop_reprice_costs(database),
        f"CREATE TABLE {database}.reprice_costs (trace_id String, span_id String, {costs}, found UInt8 DEFAULT 1)"
        " ENGINE = Join(ANY, LEFT, trace_id, span_id)",
    ]


def drop_reprice_costs(database: str) -> str:
    return f"DROP TABLE IF EXISTS {database}.reprice_costs"


def update_costs(database: str, cost_columns: list[str]) -> str:
    """Rewrite the cost columns of the repriced calls in one partition, in place (a mutation: only these
    columns of the partition's parts are rewritten; rows inserted meanwhile are kept as they are)."""
    source = f"'{database}.reprice_costs'"
    assignments = ", ".join(f"{name} = joinGet({source}, '{name}', trace_id, span_id)" for name in cost_columns)
    return f"""
ALTER TABLE {database}.llm_usage UPDATE {assignments}
WHERE _partition_id = {{partition:String}} AND joinGet({source}, 'found', trace_id, span_id) = 1
SETTINGS mutations_sync = 2
"""


# --- otel-llmcost whatif / prices coverage ----------------------------------------------------------------

_FILTERS = (
    " AND ({tenant:String} = '' OR tenant_id = {tenant:String})"
    " AND ({feature:String} = '' OR feature = {feature:String})"
)


def usage_shapes(database: str) -> str:
    """Calls in range grouped by identical usage: each shape is priced once, times its count."""
    return f"""
SELECT provider, if(response_model != '', response_model, request_model) AS model, service_tier, {_USAGE},
       count() AS calls, sum(cost_usd) AS actual_usd, countIf(llm_usage.cost_usd IS NULL) AS unpriced_calls
FROM {database}.llm_usage
WHERE {_IN_RANGE}{_FILTERS}
GROUP BY ALL
"""


def models_seen(database: str) -> str:
    """Each provider and model called in the range, with its calls and first call (`prices update`)."""
    return f"""
SELECT provider, if(response_model != '', response_model, request_model) AS model, count() AS calls,
       toString(min(ts)) AS first
FROM {database}.llm_usage
WHERE {_IN_RANGE}
GROUP BY provider, model
ORDER BY provider, model
"""


def unpriced_models(database: str) -> str:
    return f"""
SELECT provider, if(response_model != '', response_model, request_model) AS model, count() AS calls,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cache_read_tokens + cache_write_tokens) AS cache_tokens, max(ts) AS last_seen, any(cost_note) AS reason
FROM {database}.llm_usage
WHERE cost_status = 'unpriced' AND {_IN_RANGE}
GROUP BY provider, model
ORDER BY calls DESC, model
"""
