"""Tenant row policies for the embedded store: the engine, not the query, decides which rows a tenant reads.

chDB runs one user, `default`; its users file (loaded from a `config-file` when the engine starts, i.e. at
the first `connect` of a process or after every connection closed) carries one row policy per tenant table.
The tenant travels in the built-in setting `log_comment`: a policy keeps rows whose tenant equals it, or
every row when it is `*all*` (the writer's and admin sessions, opened with it). A tenant session sets it,
then switches to a profile whose `const` constraint makes every later change of it fail (SET, SETTINGS,
subqueries' SETTINGS, another profile). A session that sets nothing sees no rows. ClickHouse applies a row
policy as its own row-level filter step before PREWHERE and every other expression of the query, so no
expression of a tenant's query ever runs on another tenant's row (README, "Tenant isolation"; attacked
through the real listener in tests/test_isolation_attacks.py).

The policies are rendered from TENANT_TABLES, the same list `tenants grant` renders for a ClickHouse server.
The tenant profile is named after a digest of the policies: a running engine that loaded other policies (or
none) has no profile of that name, and a tenant session refuses to run (THERE_IS_NO_PROFILE), never opens.
"""

from __future__ import annotations

import hashlib
import os
import re
from xml.sax.saxutils import escape

from otel_llmcost.errors import ConfigError
from otel_llmcost.rows.traces import TABLE as TRACE_TABLE
from otel_llmcost.rows.traces import TENANT_ATTRIBUTE

ALL_TENANTS = "*all*"  # the carrier value that reads every tenant (writer and admin sessions); no tenant's id
CARRIER = "log_comment"  # a built-in setting: chDB refuses unknown (custom) settings in profiles and SET
TRACE_LOOKUP_SUFFIX = "_trace_id_ts"  # the Collector's trace id -> time range table beside a trace table

#: table -> the column (or attribute map) naming its tenant; every table that holds tenants' rows.
TENANT_TABLES = {
    "llm_usage": "tenant_id", "rejected_calls": "tenant_id", "usage_hourly": "tenant_id",
    "usage_daily": "tenant_id", "requests": "tenant_id", "request_counts_hourly": "tenant_id",
    "errors_hourly": "tenant_id", "users_daily": "tenant_id", "latency_hourly": "tenant_id",
    "latency_daily": "tenant_id", "projects_hourly": "tenant_id", TRACE_TABLE: "SpanAttributes",
    # every tenant's totals under ALL_TENANTS: a tenant's policy keeps none of them (migration 014)
    "usage_all_hourly": "tenant_id", "usage_all_daily": "tenant_id",
    "features_hourly": "tenant_id", "features_daily": "tenant_id", "users_hourly": "tenant_id",
    "errors_all_hourly": "tenant_id", "errors_all_daily": "tenant_id", "projects_daily": "tenant_id",
    "requests_all_hourly": "tenant_id", "requests_all_daily": "tenant_id",
    # migration 015: spend per session, the sessions' peaks, the statement's lines
    "sessions_daily": "tenant_id", "session_peaks_daily": "tenant_id", "session_peaks_all_daily": "tenant_id",
    "statement_hourly": "tenant_id", "statement_daily": "tenant_id",
    "reconciliations": "tenant_id",  # rows of accounts mapped to a tenant (`reconcile --account`); '' for none
}
#: Tables naming tenants that are the platform's, not the tenants': no policy, so tenant keys are refused them
#: (query/scope.py) and read by admin keys only. The chargeback terms: a tenant's markup is the platform's business.
PLATFORM_TABLES = frozenset({"tenant_terms"})
TRACE_LOOKUP_TABLE = TRACE_TABLE + TRACE_LOOKUP_SUFFIX
_POLICY_DIR = "row_policies"  # inside the chDB data directory
#: What a tenant session sets and its profile locks besides the carrier: each keeps the policy a read's own
#: first step, the one ordering that isolation rests on (README, "Tenant isolation").
#: - `apply_row_policy_after_final` (on by default since ClickHouse 25.12) defers the policy and PREWHERE past
#:   FINAL's merge, where PREWHERE loses its short-circuits (measured: `PREWHERE if(<never true>, throwIf(1), 0)
#:   = 0` with FINAL throws on the tenant's own rows). Off, FINAL merges the tenant's rows only; every table that
#:   takes FINAL has its tenant in the sorting key (tests/test_row_policies.py), so its answers are the same.
#: - `optimize_use_projections`: a read from a projection ANDs the policy into the query's PREWHERE, and a
#:   one-step PREWHERE (or one without short-circuits) then runs the query's expressions on other tenants' rows
#:   (measured on a projection sorted by time: throwIf fired on them). A tenant's reads are narrow by the
#:   tables' own tenant-first order; projections serve every tenant's (admin) reads.
TENANT_SETTINGS = {"apply_row_policy_after_final": "0", "optimize_use_projections": "0"}
#: The engine's own settings, for the receiver's memory (issue 17: RSS < 1 GB): background merges read each
#: part in blocks of merge_max_block_size rows, held for every part merged at once; otel_traces' rows (two
#: attribute maps) are several KB, so the default 8,192 rows made a merge of ten 10k-span parts take ~250 MB
#: of its peak; 1,024 rows: ~150 MB less at peak, for a little more merge CPU (bench/ingest.py, NOTES-17).
ENGINE_CONFIG = "<merge_tree><merge_max_block_size>1024</merge_max_block_size></merge_tree>"


def tenant_conditions(database: str, tenant_sql: str) -> dict[str, str]:
    """Each tenant table's row condition, with `tenant_sql` (a literal or an expression) as the tenant."""
    conditions = {table: row_condition(column, tenant_sql) for table, column in TENANT_TABLES.items()}
    # Grafana's trace view reads the lookup table: its rows follow the traces the tenant may see (the
    # subquery's read of the trace table is itself under that table's policy).
    traces = f"{identifier(database)}.{identifier(TRACE_TABLE)}"
    conditions[TRACE_LOOKUP_TABLE] = f"TraceId IN (SELECT TraceId FROM {traces})"
    return conditions


def row_condition(tenant_column: str, tenant_sql: str) -> str:
    """`tenant_id = T`, or for trace tables the span attribute the receiver stamps with the trace's tenant."""
    if tenant_column == "SpanAttributes":
        return f"SpanAttributes[{sql_string(TENANT_ATTRIBUTE)}] = {tenant_sql}"
    return f"{tenant_column} = {tenant_sql}"


def is_policy_table(table: str) -> bool:
    return table in TENANT_TABLES or table == TRACE_LOOKUP_TABLE


def users_xml(database: str) -> tuple[str, str]:
    """(the users file, the name of its tenant profile)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise ConfigError(f"database name {database!r}: the embedded store needs letters, digits and _ only")
    carrier = f"getSetting({sql_string(CARRIER)})"
    tables = "".join(
        f"<{table}><filter>{escape(f'{carrier} = {sql_string(ALL_TENANTS)} OR ({condition})')}</filter></{table}>"
        for table, condition in tenant_conditions(database, carrier).items())
    policies = f"<databases><{database}>{tables}</{database}></databases>"
    # chDB's SET profile applies a profile's constraints, not its settings: the session sets them (reader.py)
    body = "<constraints>" + "".join(f"<{name}><const/></{name}>" for name in (CARRIER, *TENANT_SETTINGS)) + \
        "</constraints>"
    profile = "llmcost_tenant_" + hashlib.sha256((policies + body).encode()).hexdigest()[:16]
    text = (
        "<clickhouse>\n"
        f"  <profiles><default/><{profile}>{body}</{profile}></profiles>\n"
        "  <users><default><password/><networks><ip>::/0</ip></networks><profile>default</profile>"
        f"<quota>default</quota>\n    {policies}\n  </default></users>\n"
        "  <quotas><default/></quotas>\n"
        "</clickhouse>\n"
    )
    return text, profile


def connection_string(path: str, database: str, read_only: bool, all_tenants: bool) -> str:
    """chDB's connection string for the store at `path`, with the policy config (written here first): every
    connect passes it, so whichever connect starts the engine (receiver, CLI, a test) loads the policies."""
    users, _ = users_xml(database)
    folder = os.path.join(path, _POLICY_DIR)
    _write_if_changed(os.path.join(folder, "users.xml"), users)
    config = os.path.join(folder, "config.xml")
    _write_if_changed(config, "<clickhouse><user_directories><users_xml><path>users.xml</path></users_xml>"
                              f"</user_directories>{ENGINE_CONFIG}</clickhouse>\n")
    options = [f"config-file={config}"]
    if read_only:
        options.append("mode=ro")
    if all_tenants:
        options.append(f"{CARRIER}={ALL_TENANTS}")
    return f"file:{path}?{'&'.join(options)}"


def tenant_profile(database: str) -> str:
    return users_xml(database)[1]


def _write_if_changed(file: str, text: str) -> None:
    try:
        with open(file, encoding="utf-8") as existing:
            if existing.read() == text:
                return
    except FileNotFoundError:
        os.makedirs(os.path.dirname(file), exist_ok=True)
    temporary = f"{file}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, file)


def identifier(name: str) -> str:
    """A ClickHouse identifier, backquoted."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def sql_string(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
