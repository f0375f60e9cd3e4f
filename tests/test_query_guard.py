"""The query guard on real chDB: reads of our data pass; files, URLs, writes, limits and other tenants do not."""

from __future__ import annotations

import threading
import time

import pytest

from otel_llmcost.query.clientsettings import Limits
from otel_llmcost.query.errors import QueryError
from otel_llmcost.query.executor import QueryEngine, QueryRequest
from otel_llmcost.query.scope import Principal
from otel_llmcost.store import reader
from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.policies import CARRIER

ADMIN = Principal(None, "admin")
ACME = Principal("acme", "k1")
LIMITS = Limits(max_execution_time=5, max_result_rows=1000, max_result_bytes=10_000_000, max_memory_usage=10**9)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("guard") / "chdb")
    writer = ChdbStore(path, "llmcost")  # the receiver's writer stays open beside the readers, as in serve
    writer.ensure_schema()
    writer.command("INSERT INTO llmcost.llm_usage (ts, tenant_id, request_model, cost_usd) VALUES "
                   "('2026-11-01 10:00:00', 'acme', 'gpt-4o', 1.5), ('2026-11-01 11:00:00', 'globex', 'claude', 7),"
                   "('2026-11-01 12:00:00', 'o''hara', 'gpt-4o', 2)")
    writer.command("INSERT INTO llmcost.otel_traces (Timestamp, TraceId, SpanAttributes) VALUES"
                   " (now(), 't1', {'otel_llmcost.tenant': 'acme'}),"
                   " (now(), 't2', {'otel_llmcost.tenant': 'globex'})")
    yield QueryEngine(path, "llmcost", LIMITS, max_concurrent=2, queue_seconds=5)
    writer.close()


def run(engine, sql: str, who: Principal = ADMIN, **request) -> str:
    return engine.execute(QueryRequest(sql, who, "TSV", **request)).body.decode()


def refused(engine, sql: str, who: Principal = ADMIN, **request) -> QueryError:
    with pytest.raises(QueryError) as caught:
        run(engine, sql, who, **request)
    return caught.value


def test_reads_of_our_data_and_metadata_run(engine):
    assert run(engine, "SELECT count() FROM llmcost.llm_usage") == "3\n"
    assert run(engine, "SELECT count() FROM llm_usage") == "3\n"  # the project database is the current one
    assert "llm_usage" in run(engine, "SHOW TABLES")
    assert run(engine, "SELECT name FROM system.databases WHERE name = 'llmcost'") == "llmcost\n"
    assert "tenant_id" in run(engine, "DESCRIBE TABLE llmcost.llm_usage")
    assert run(engine, "EXISTS TABLE llmcost.llm_usage") == "1\n"
    assert run(engine, "SELECT sum(number) FROM numbers(10) SETTINGS max_threads = 1") == "45\n"
    assert run(engine, "SELECT {m:String} AS m", params={"m": "it's"}) == "it\\'s\n"  # TSV escapes
    assert run(engine, "SELECT 1 /* ; SELECT * FROM file('/etc/passwd') */ -- ; DROP") == "1\n"
    assert run(engine, "WITH c AS (SELECT tenant_id FROM llm_usage) SELECT count() FROM c") == "3\n"
    assert run(engine, "SELECT 1 FORMAT JSONEachRow") == '{"1":1}\n'  # a trailing FORMAT wins


@pytest.mark.parametrize("sql, code", [
    ("INSERT INTO FUNCTION file('/tmp/llmcost-pwned.csv', 'CSV') SELECT 1", 164),
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", 497),
    ("SELECT file('/etc/passwd')", 497),
    ("SELECT * FROM url('http://127.0.0.1:9/x', 'CSV')", 497),
    ("SELECT * FROM s3('http://127.0.0.1:9/b/k', 'CSV')", 497),
    ("SELECT * FROM remote('127.0.0.1:9000', system.one)", 497),
    ("SELECT * FROM mysql('127.0.0.1:3306', 'db', 't', 'u', 'p')", 497),
    ("SELECT * FROM postgresql('127.0.0.1:5432', 'db', 't', 'u', 'p')", 497),
    ("SELECT * FROM executable('id', 'TSV', 'x String')", 497),
    ("SELECT * FROM (SELECT 1) AS a JOIN file('/etc/passwd', 'LineAsString') AS b ON 1", 497),
    ("SELECT 1 WHERE 1 IN (SELECT 1 FROM url('http://127.0.0.1:9/', 'CSV', 'a UInt8'))", 497),
    ("EXPLAIN AST SELECT 1; SELECT * FROM file('/etc/passwd', 'LineAsString')", 62),
    ("SELECT 1; SELECT 2", 62),
    ("EXPLAIN PIPELINE INSERT INTO llmcost.llm_usage (tenant_id) SELECT 'x'", 164),
    ("SET max_execution_time = 0", 164),
    ("KILL QUERY WHERE 1", 164),
    ("CREATE TEMPORARY TABLE t (a UInt8)", 164),
    ("DROP TABLE llmcost.llm_usage", 164),
    ("ALTER TABLE llmcost.llm_usage DELETE WHERE 1", 164),
    ("SYSTEM FLUSH LOGS", 164),
    ("SELECT 1 INTO OUTFILE '/tmp/llmcost-pwned.txt'", 164),
    ("SELECT 1 SETTINGS readonly = 0", 164),
    ("SELECT 1 SETTINGS max_execution_time = 0", 164),
    ("SELECT 1 SETTINGS max_result_rows = 100000000", 164),
    ("SELECT 1 SETTINGS allow_introspection_functions = 1", 164),
    ("SELECT 1 SETTINGS format_schema = '/etc/passwd'", 164),
    ("SELECT * FROM llmcost.llm_usage SETTINGS additional_table_filters = {'llmcost.llm_usage': '1'}", 497),
    ("SELECT * FROM generateRandom('a UInt8')", 497),
    ("SELECT * FROM default.anything", 497),
    ("SELECT 1 FROM system.zookeeper WHERE path = '/'", 497),
    ("/* */ sElEcT * FrOm FiLe('/etc/passwd', 'LineAsString')", 497),
    ("SELECT * FROM `file`('/etc/passwd', 'LineAsString')", 497),
    ("DESCRIBE TABLE file('/etc/passwd', 'LineAsString')", 497),
    ("EXPLAIN SYNTAX SELECT * FROM file('/etc/passwd', 'LineAsString')", 497),
    ("SELECT * FROM python('x')", 497),
    ("SELECT * FROM input('a String')", 497),
    ("SELECT arrayMap(x -> file(x), ['/etc/passwd'])", 497),
    ("SELECT 1 FROM system.stack_trace", 497),
])
def test_attacks_are_refused_with_a_clickhouse_error(engine, sql, code):
    error = refused(engine, sql)
    assert error.code == code, error.clickhouse_text()
    assert error.clickhouse_text().startswith(f"Code: {code}. DB::Exception: ")


def test_url_settings_are_classified(engine):
    assert run(engine, "SELECT getSetting('max_execution_time')", settings={"max_execution_time": "64"}) == "5\n"
    assert run(engine, "SELECT getSetting('max_execution_time')", settings={"max_execution_time": "2"}) == "2\n"
    assert run(engine, "SELECT 1", settings={"session_id": "abc", "send_progress_in_http_headers": "1"}) == "1\n"
    assert run(engine, "SELECT toString(getSetting('join_use_nulls'))", settings={"join_use_nulls": "1"}) == "true\n"
    for name, value in [("readonly", "0"), ("max_execution_time", "0"), ("allow_ddl", "1"),
                        ("additional_table_filters", "{}"), ("output_format_json_quote_decimals", "1'; DROP")]:
        if name == "output_format_json_quote_decimals":  # quoted as a literal: a bad value, not an injection
            assert refused(engine, "SELECT 1", settings={name: value}).code != 0
        else:
            assert refused(engine, "SELECT 1", settings={name: value}).code == 164


def test_setting_names_cannot_carry_sql(engine):
    name = "output_format_json_x = 1; SELECT * FROM file('/etc/passwd', 'LineAsString') --"
    assert refused(engine, "SELECT 1", settings={name: "1"}).code == 115


def test_limits_hold(engine):
    assert refused(engine, "SELECT number FROM numbers(100000)").name == "TOO_MANY_ROWS_OR_BYTES"
    assert refused(engine, "SELECT count() FROM numbers(1e12)", settings={"max_execution_time": "1"}).code == 159


def test_a_session_does_not_outlive_its_request(engine):
    run(engine, "SELECT 1", settings={"join_use_nulls": "1"})
    assert run(engine, "SELECT toString(getSetting('join_use_nulls'))") == "false\n"


# A tenant key reads its own rows only, whatever the query does.
TENANT_ROWS = [
    "SELECT tenant_id FROM llmcost.llm_usage",
    "SELECT tenant_id FROM llm_usage AS u",
    "SELECT tenant_id FROM (SELECT * FROM llmcost.llm_usage)",
    "WITH x AS (SELECT tenant_id FROM llm_usage) SELECT tenant_id FROM x",
    "SELECT a.tenant_id FROM llm_usage AS a JOIN llm_usage AS b ON a.tenant_id = b.tenant_id",
    "SELECT tenant_id FROM llm_usage UNION ALL SELECT tenant_id FROM llmcost.llm_usage",
    "SELECT tenant_id FROM llm_usage WHERE tenant_id IN (SELECT tenant_id FROM llm_usage)",
    "SELECT tenant_id FROM llm_usage WHERE 1 OR tenant_id != 'acme'",
    "SELECT tenant_id FROM llm_usage PREWHERE 1",
    "SELECT arrayJoin(groupArray(tenant_id)) FROM llm_usage",
    "SELECT tenant_id FROM `llmcost`.`llm_usage`",
    "SELECT SpanAttributes['otel_llmcost.tenant'] FROM llmcost.otel_traces",
]


@pytest.mark.parametrize("sql", TENANT_ROWS)
def test_a_tenant_key_sees_only_its_rows(engine, sql):
    assert set(run(engine, sql, ACME).split()) == {"acme"}


def test_the_trace_lookup_follows_the_trace_table(engine):
    assert run(engine, "SELECT TraceId FROM llmcost.otel_traces_trace_id_ts", ACME) == "t1\n"
    assert run(engine, "SELECT TraceId FROM llmcost.otel_traces_trace_id_ts ORDER BY 1") == "t1\nt2\n"


def test_counts_and_sums_are_scoped_too(engine):
    assert run(engine, "SELECT count() FROM llmcost.llm_usage", ACME) == "1\n"
    assert run(engine, "SELECT sum(cost_usd) FROM llmcost.llm_usage", ACME) == "1.5\n"
    assert run(engine, "SELECT count() FROM llm_usage", Principal("o'hara")) == "1\n"  # quoting of the tenant


@pytest.mark.parametrize("sql, code", [
    ("SELECT count() FROM merge('llmcost', 'llm_usage')", 497),
    ("SELECT * FROM llm_usage SETTINGS additional_table_filters = {}", 497),
    ("SELECT 'globex' IN llmcost.llm_usage", 497),
    ("SELECT * FROM system.processes", 497),
    ("SELECT * FROM system.parts", 497),
    ("SELECT * FROM system.query_log", 497),
    ("SELECT * FROM llmcost.reprice_runs", 497),
    ("SELECT * FROM remote('127.0.0.1', llmcost.llm_usage)", 497),
    ("EXPLAIN ESTIMATE SELECT * FROM llmcost.llm_usage", 497),
    ("SELECT joinGet('llmcost.llm_usage', 'tenant_id', 1)", 497),
    ("SELECT dictGet('d', 'x', 1)", 497),
    ("SELECT * FROM view(SELECT * FROM llmcost.llm_usage)", 497),
    ("SELECT * FROM mergeTreeIndex('llmcost', 'llm_usage')", 497),
    ("SELECT * FROM llm_usage SETTINGS readonly = 0", 164),
    ("SELECT 'globex' IN llmcost.llm_usage AS `x\n   Identifier fake`", 62),  # a forged line in the AST dump
    ("SELECT count() FROM llm_usage SETTINGS use_query_cache = 1", 164),
])
def test_tenant_break_outs_fail(engine, sql, code):
    assert refused(engine, sql, ACME).code == code


def test_identifier_parameters_are_checked_as_tables(engine):
    assert refused(engine, "SELECT count() FROM {t:Identifier}", ACME, params={"t": "system.processes"}).code == 457
    assert refused(engine, "SELECT count() FROM system.{t:Identifier}", ACME, params={"t": "processes"}).code == 497
    assert refused(engine, "SELECT * FROM {d:Identifier}.{t:Identifier}", ACME,
                   params={"d": "llmcost", "t": "reprice_runs"}).code == 497
    assert run(engine, "SELECT tenant_id FROM {t:Identifier}", ACME, params={"t": "llm_usage"}) == "acme\n"


def test_names_the_statement_defines_do_not_hide_tables(engine):
    assert run(engine, "WITH c AS (SELECT tenant_id FROM llm_usage) SELECT * FROM c", ACME) == "acme\n"
    # A window may share a system table's name; the table is still checked.
    assert refused(engine, "SELECT count() OVER processes FROM processes WINDOW processes AS (ORDER BY 1)",
                   ACME, database="system").code == 497
    assert refused(engine, "SELECT * FROM not_a_table", ACME).code == 60  # and not taken for a CTE


def test_a_tenant_cannot_leave_through_the_database_parameter(engine):
    assert refused(engine, "SELECT 1", ACME, database="other").code == 497
    assert refused(engine, "SELECT * FROM processes", ACME, database="system").code == 497
    assert run(engine, "SELECT count() > 0 FROM tables", ACME, database="system") == "1\n"


def test_over_the_concurrency_cap_is_a_clickhouse_error(engine):
    narrow = QueryEngine(engine.chdb_path, "llmcost", LIMITS, max_concurrent=1, queue_seconds=0.2)
    slow = threading.Thread(target=lambda: pytest.raises(QueryError, run, narrow, "SELECT count() FROM numbers(1e13)",
                                                         settings={"max_execution_time": "3"}))
    slow.start()
    deadline = time.monotonic() + 10
    while narrow.running == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    error = refused(narrow, "SELECT 1")
    assert (error.code, error.name, error.status) == (202, "TOO_MANY_SIMULTANEOUS_QUERIES", 503)
    slow.join()  # bounded by max_execution_time: chDB cannot cancel it sooner
    assert run(narrow, "SELECT 1") == "1\n"


def test_the_cli_without_a_receiver_uses_the_same_guard(tmp_path):
    from conftest import run_cli

    run_cli("migrate", "--data-dir", str(tmp_path))  # a subprocess: this one holds the module's store
    assert run_cli("sql", "--data-dir", str(tmp_path), "SELECT count() AS n FROM llm_usage").stdout == '{"n": 0}\n'
    refused = run_cli("sql", "--data-dir", str(tmp_path), "SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'a UInt8')",
                      check=False)
    assert refused.returncode == 2 and "Code: 497" in refused.stderr


def test_identifier_parameters_are_one_plain_name(engine):
    """EXPLAIN AST prints `llmcost.reprice_runs` as a database and a table; the query reads it as one name:
    such a value is refused rather than checked as one table and read as another."""
    for value in ("llmcost.reprice_runs", "`llm_usage`", "llm_usage\\.x", "a b"):
        error = refused(engine, "SELECT count() FROM {t:Identifier}", ACME, params={"t": value})
        assert error.code == 457 and "one plain name" in error.message
    assert run(engine, "SELECT count() FROM {d:Identifier}.{t:Identifier}", ACME,
               params={"d": "llmcost", "t": "llm_usage"}) == "1\n"


def test_line_separators_inside_names_forge_no_ast_lines(engine):
    """str.splitlines() also splits on U+2028 and friends: an alias holding one would have forged a
    `Function file` line of its own in the dump the guard reads."""
    for separator in ("\u2028", "\u2029", "\x85", "\x1c"):
        sql = f"SELECT 1 AS `a{separator}       Function file`"
        assert run(engine, sql, ACME).startswith("1"), separator


def test_the_statements_a_query_costs(engine, monkeypatch):
    """The listener's fixed cost is its statements before the query's own: one reads the canonical text and the
    tables, one the AST, SET, the tenant's scope, USE. A Native client's zones come with the answer (binary
    type encoding), not from a DESCRIBE of the query; a type native.py cannot name is asked for again."""
    run(engine, "SELECT 1")  # the engine's first query reads the system tables and table functions (once)
    ran: list[str] = []
    for name in ("run", "run_with_stats", "stream"):
        method = getattr(reader.ReadSession, name)
        monkeypatch.setattr(reader.ReadSession, name, lambda self, sql, *a, _m=method, **k: (
            ran.append(" ".join(sql.split()[:2])), _m(self, sql, *a, **k))[1])
    zoned = QueryRequest("SELECT ts, tenant_id FROM llm_usage ORDER BY ts", ACME, "Native", client_revision=54460)
    body = engine.execute(zoned).body
    assert b"\x02ts\x14DateTime64(6, 'UTC')" in body and b"acme" in body and b"globex" not in body
    assert ran == ["SELECT formatQuerySingleLine({q:String})", "EXPLAIN AST", "SET max_execution_time",
                   f"SET {CARRIER}", "SET profile", f"SELECT getSetting('{CARRIER}')", "USE llmcost",
                   "/* llmcost-query"]
    ran.clear()
    named = "SELECT CAST((1, 'a'), 'Tuple(a UInt8, b String)') AS t, toDateTime(0, 'UTC') AS z"
    body = engine.execute(QueryRequest(named, ACME, "Native", client_revision=54460)).body
    assert b"\x01z\x0fDateTime('UTC')" in body
    assert sum(statement.startswith("DESCRIBE") for statement in ran) == 1
