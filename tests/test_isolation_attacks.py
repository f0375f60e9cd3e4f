"""A tenant key attacks another tenant through a real receiver's query listener, with clickhouse-connect.

Every form of tests/isolation_attacks.py runs against every table the listener serves to tenants, then a
property-based generator combines oracles, clauses and wrappers. Nothing may reveal the victim: no answer
or error quotes its values, no oracle fires (throwIf, a cast or parse error, a division by zero, a sleep),
counts are the attacker's own, and metadata shows no volume or path.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import FAST_CONFIG, Receiver, run_cli
from isolation_attacks import (
    ATTACKER,
    BYSTANDER,
    FORMS,
    SECRET,
    TARGETS,
    TRACE_PREFIX,
    VICTIM,
    VICTIM_CALLS,
    Target,
    form_sql,
    seed_statements,
)
from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.policies import TENANT_TABLES
from payloads import llm_span, post, request


def _key(data_dir, *args: str) -> str:
    created = run_cli("keys", "create", "--ingest", "--query", *args, "--data-dir", str(data_dir))
    return json.loads(created.stdout)["secret"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("isolation") / "data"
    data_dir.mkdir()
    admin, attacker, victim = _key(data_dir, "--admin"), _key(data_dir, "--tenant", ATTACKER), \
        _key(data_dir, "--tenant", VICTIM)
    bystander = _key(data_dir, "--tenant", BYSTANDER)  # sends calls while the attacker watches
    store = ChdbStore(str(data_dir / "chdb"), "llmcost")
    store.ensure_schema()
    for statement in seed_statements():
        store.command(statement)
    store.close()
    receiver = Receiver(data_dir, FAST_CONFIG).start()
    receiver.attacker_key, receiver.bystander_key = attacker, bystander
    # One call each through OTLP: the receiver's writer fills the rollups (its session reads every tenant).
    for key, tenant in ((attacker, ATTACKER), (victim, VICTIM)):
        trace_id = bytes.fromhex(TRACE_PREFIX[tenant]) + os.urandom(14)
        body = request(llm_span(trace_id, "gpt-4o", 11, 7)).SerializeToString()
        assert post(receiver.http_url, body, "application/x-protobuf",
                    headers={"Authorization": f"Bearer {key}"})[0] == 200
    clients = {name: clickhouse_connect.get_client(host="127.0.0.1", port=receiver.query_port, password=secret,
                                                   database="llmcost")
               for name, secret in (("admin", admin), ("attacker", attacker))}
    # Both calls stored, usage rows and spans, and every table settled (a rollup's part lands after its source
    # table's): later tests count the attacker's rows, which must not change under them.
    sent = " OR ".join(f"startsWith({{column}}, '{prefix}')" for prefix in TRACE_PREFIX.values())
    arrived = (f"SELECT (SELECT count() FROM llmcost.llm_usage WHERE {sent.format(column='trace_id')}) + "
               f"(SELECT count() FROM llmcost.otel_traces WHERE {sent.format(column='TraceId')})")
    rows = "SELECT " + " + ".join(f"(SELECT count() FROM llmcost.{target.table})" for target in TARGETS)
    deadline, seen = time.monotonic() + 30, None
    while (now := (clients["admin"].command(arrived), clients["admin"].command(rows))) != seen or now[0] < 4:
        assert time.monotonic() < deadline, "the OTLP calls did not reach the store"
        seen = now
        time.sleep(0.5)
    yield receiver, clients
    receiver.stop()


def attempt(client, sql: str, **query_settings) -> tuple[str, str]:
    """("ok", answer) or ("error", message): whatever the attacker gets to read."""
    try:
        return "ok", client.raw_query(sql, settings=query_settings or None).decode("utf-8", "replace")
    except DatabaseError as error:
        return "error", str(error)


def assert_nothing_leaks(outcome: tuple[str, str]) -> None:
    text = outcome[1]
    assert SECRET not in text and VICTIM not in text, text
    for oracle in ("FUNCTION_THROW_IF_VALUE_IS_NON_ZERO", "Code: 395", "ILLEGAL_DIVISION", "Division by zero",
                   "TOO_SLOW", "sleep"):
        assert oracle not in text, text


def answer(receiver, sql: str, **query_settings) -> tuple[int, bytes, dict]:
    """(HTTP status, body, X-ClickHouse-Summary without the time) of a raw request with the attacker's key."""
    url = f"http://127.0.0.1:{receiver.query_port}/?" + urllib.parse.urlencode(query_settings)
    sent = urllib.request.Request(url, data=sql.encode(), headers={"X-ClickHouse-Key": receiver.attacker_key})
    try:
        with urllib.request.urlopen(sent, timeout=30) as reply:
            status, body, headers = reply.status, reply.read(), reply.headers
    except urllib.error.HTTPError as error:
        status, body, headers = error.code, error.read(), error.headers
    summary = json.loads(headers.get("X-ClickHouse-Summary") or "{}")
    summary.pop("elapsed_ns", None)
    return status, body, summary


ATTACKS = [(form, target) for form in FORMS for target in TARGETS]


@pytest.mark.parametrize("form, target", ATTACKS, ids=[f"{form}-{target.table}" for form, target in ATTACKS])
def test_no_form_reaches_another_tenants_row(served, form, target):
    _, clients = served
    outcome = attempt(clients["attacker"], form_sql(form, target))
    assert_nothing_leaks(outcome)
    # A refusal would also leak nothing, but these are reads a tenant may run: they must run.
    assert outcome[0] == "ok", outcome[1]


def test_the_victim_is_really_there(served):
    """The attacks have teeth: the admin's key reads the victim's rows, and the same oracles fire for it."""
    _, clients = served
    assert clients["admin"].command(f"SELECT count() FROM llmcost.llm_usage WHERE tenant_id = '{VICTIM}'") \
        == VICTIM_CALLS + 1
    for target in TARGETS:
        kind, text = attempt(clients["admin"], form_sql("where cast", target))
        assert kind == "error" and SECRET in text, (target.table, text)
        kind, text = attempt(clients["admin"], form_sql("prewhere throwIf", target))
        assert kind == "error" and "395" in text, (target.table, text)


#: Every tenant's totals (migration 014), under the reserved tenant '*all*': no tenant's rows at all, so the
#: attacker owns none and the oracles below are true of every row.
EVERY_TENANT = sorted(set(TENANT_TABLES) - {target.table for target in TARGETS})


def test_every_policy_table_is_attacked():
    assert EVERY_TENANT == sorted(table for table in TENANT_TABLES if "_all_" in table), EVERY_TENANT


@pytest.mark.parametrize("table", EVERY_TENANT)
def test_every_tenants_totals_are_no_tenants(served, table):
    _, clients = served
    assert clients["admin"].command(f"SELECT count() FROM llmcost.{table} WHERE tenant_id = '*all*'") > 0
    assert clients["attacker"].command(f"SELECT count() FROM llmcost.{table}") == 0
    target = Target(table, "tenant_id != 'acme'", "toString(tenant_id)")
    for form in ("prewhere throwIf", "where cast", "subquery scalar", "having throwIf"):
        outcome = attempt(clients["attacker"], form_sql(form, target))
        assert outcome[0] == "ok" and "*all*" not in outcome[1], (form, outcome)


@pytest.mark.parametrize("target", TARGETS, ids=[target.table for target in TARGETS])
def test_counts_are_the_attackers_own(served, target):
    _, clients = served
    own = clients["admin"].command(f"SELECT count() FROM llmcost.{target.table} WHERE NOT ({target.other})")
    assert clients["attacker"].command(f"SELECT count() FROM llmcost.{target.table}") == own > 0
    assert clients["attacker"].command(f"SELECT count() FROM llmcost.{target.table} WHERE {target.other}") == 0


@pytest.mark.parametrize("limit", ["max_rows_to_read", "max_bytes_to_read"])
@pytest.mark.parametrize("target", TARGETS, ids=[target.table for target in TARGETS])
def test_limit_errors_count_nothing(served, target, limit):
    """Rows read before the policy's filter include other tenants' rows in shared granules: a tenant's
    limit error names the limit, never a count."""
    _, clients = served
    for outcome in (attempt(clients["attacker"], f"SELECT count() FROM llmcost.{target.table}", **{limit: 1}),
                    attempt(clients["attacker"], f"SELECT count() FROM llmcost.{target.table} SETTINGS {limit} = 1")):
        kind, text = outcome
        assert kind == "error" and limit in text, text
        assert not any(word in text for word in ("current", "rows:", "bytes:", "thousand")), text
        assert_nothing_leaks(outcome)


# Metadata, engine-level escapes and the carrier itself: each must be refused to a tenant key.
REFUSED = {
    "total_rows": "SELECT name, total_rows FROM system.tables WHERE database = 'llmcost'",
    "total_bytes in a subquery": "SELECT x FROM (SELECT total_bytes AS x FROM system.tables)",
    "star of tables": "SELECT * FROM system.tables WHERE database = 'llmcost'",
    "qualified star": "SELECT t.* FROM system.tables AS t",
    "columns matcher": "SELECT COLUMNS('.*') FROM system.tables",
    "parts": "SELECT parts, active_parts, total_marks FROM system.tables",
    "data paths": "SELECT data_paths, metadata_path FROM system.tables",
    "database path": "SELECT data_path FROM system.databases",
    "column sizes": "SELECT sum(data_compressed_bytes) FROM system.columns WHERE table = 'llm_usage'",
    "information_schema rows": "SELECT table_rows, data_length FROM information_schema.tables",
    "INFORMATION_SCHEMA upper": "SELECT TABLE_ROWS FROM INFORMATION_SCHEMA.TABLES",
    "server path": "SELECT getServerSetting('path')",
    "tmp path": "SELECT getServerSetting('tmp_path')",
    "merge tree setting": "SELECT getMergeTreeSetting('index_granularity')",
    "virtual _part": "SELECT DISTINCT _part FROM llmcost.llm_usage",
    "virtual _part_offset": "SELECT min(_part_offset) FROM llmcost.llm_usage",
    "virtual in where": "SELECT count() FROM llmcost.llm_usage WHERE _part_offset > 3",
    "virtual _block_number": "SELECT max(_block_number) FROM llmcost.otel_traces",
    "virtual _partition_id": "SELECT _partition_id FROM llmcost.usage_hourly",
    "virtual _row_exists": "SELECT sum(_row_exists) FROM llmcost.requests",
    "virtual _disk_name": "SELECT _disk_name FROM llmcost.rejected_calls",
    "show merges": "SHOW MERGES",
    "show dictionaries": "SHOW DICTIONARIES FROM llmcost",
    "show clusters": "SHOW CLUSTERS",
    "show changed settings": "SHOW CHANGED SETTINGS LIKE '%'",
    "show processlist": "SHOW PROCESSLIST",
    "explain indexes": "EXPLAIN indexes = 1 SELECT count() FROM llmcost.llm_usage WHERE tenant_id = 'acme'",
    "explain estimate": "EXPLAIN ESTIMATE SELECT count() FROM llmcost.llm_usage",
    "explain pipeline": "EXPLAIN PIPELINE SELECT count() FROM llmcost.llm_usage",
    "explain plan": "EXPLAIN PLAN actions = 1 SELECT count() FROM llmcost.llm_usage",
    "merge function": "SELECT count() FROM merge('llmcost', '^llm_usage$') PREWHERE throwIf(tenant_id != 'acme') = 0",
    "merge table": "SELECT count() FROM llmcost.all_usage WHERE throwIf(tenant_id != 'acme') = 0",
    "view": "SELECT count() FROM llmcost.usage_view",
    "dictionary table": "SELECT count() FROM llmcost.req_dict",
    "dictGet": "SELECT dictGet('llmcost.req_dict', 'tenant_id', 'VSECRET-req-1')",
    "dictGetOrDefault in where": "SELECT count() FROM llmcost.llm_usage WHERE dictGetOrDefault('llmcost.req_dict', "
                                 "'tenant_id', request_id, '') != ''",
    "dictionary function": "SELECT * FROM dictionary('llmcost.req_dict')",
    "joinGet": "SELECT joinGet('llmcost.llm_usage', 'tenant_id', 'x')",
    "in table": "SELECT 'VSECRET-tenant' IN llmcost.llm_usage",
    "carrier in SETTINGS": "SELECT count() FROM llmcost.llm_usage SETTINGS log_comment = '*all*'",
    "carrier in a subquery": "SELECT count() FROM (SELECT * FROM llmcost.llm_usage SETTINGS log_comment = '*all*')",
    "additional_table_filters": "SELECT count() FROM llmcost.llm_usage SETTINGS additional_table_filters = "
                                "{'llmcost.llm_usage': '1'}",
    "no-policy table": "SELECT * FROM llmcost.reprice_runs",
    "mv shell": "SELECT count() FROM llmcost.usage_hourly_mv",
    "mergeTreeIndex": "SELECT * FROM mergeTreeIndex('llmcost', 'llm_usage')",
    "system.parts": "SELECT sum(rows) FROM system.parts",
    "remote": "SELECT count() FROM remote('127.0.0.1', llmcost.llm_usage)",
    "profile switch": "SELECT count() FROM llmcost.llm_usage SETTINGS profile = 'default'",
}


@pytest.mark.parametrize("sql", REFUSED.values(), ids=REFUSED.keys())
def test_metadata_and_escapes_are_refused(served, sql):
    _, clients = served
    outcome = attempt(clients["attacker"], sql)
    assert outcome[0] == "error", outcome[1]
    assert_nothing_leaks(outcome)


def test_browsing_still_works_for_a_tenant(served):
    _, clients = served
    attacker = clients["attacker"]
    assert "llm_usage" in attacker.raw_query("SHOW TABLES").decode()
    names = attacker.query("SELECT name, engine, sorting_key FROM system.tables WHERE database = 'llmcost'")
    assert ("llm_usage", "MergeTree") in {(row[0], row[1]) for row in names.result_rows}
    assert attacker.command("SELECT count() FROM system.columns WHERE table = 'llm_usage' AND name = 'tenant_id'") == 1
    assert "tenant_id" in attacker.raw_query("DESCRIBE TABLE llmcost.llm_usage").decode()
    assert "SelectWithUnionQuery" in attacker.raw_query("EXPLAIN AST SELECT 1").decode()


def test_the_carrier_from_the_url_changes_nothing(served):
    receiver, clients = served
    own = clients["attacker"].command("SELECT count() FROM llmcost.llm_usage")
    # clickhouse-connect will not send a read-only setting; a raw client can.
    url = f"http://127.0.0.1:{receiver.query_port}/?" + urllib.parse.urlencode({"log_comment": "*all*"})
    sent = urllib.request.Request(url, data=b"SELECT count() FROM llmcost.llm_usage",
                                  headers={"X-ClickHouse-Key": receiver.attacker_key})
    with urllib.request.urlopen(sent, timeout=30) as answer:
        assert int(answer.read()) == own
    assert clients["attacker"].command("SELECT getSetting('log_comment')") == ATTACKER


def test_a_key_for_the_all_tenants_value_cannot_exist(tmp_path):
    refused = run_cli("keys", "create", "--query", "--tenant", "*all*", "--data-dir", str(tmp_path), check=False)
    assert refused.returncode != 0 and "*all*" in refused.stderr


# FINAL, by keyword or by setting, with PREWHERE and WHERE: ClickHouse may defer a row policy past FINAL's
# merge (apply_row_policy_after_final), and PREWHERE with it; the policy must stay the read's first step.
FINAL_FORMS = {
    "prewhere final": "SELECT count() FROM {t} FINAL PREWHERE {x}",
    "where final": "SELECT count() FROM {t} FINAL WHERE {x}",
    "prewhere setting": "SELECT count() FROM {t} PREWHERE {x} SETTINGS final = 1",
    "where-and setting": "SELECT count() FROM {t} WHERE 1 = 1 AND ({x}) SETTINGS final = 1",
    "subquery final": "SELECT count() FROM (SELECT * FROM {t} FINAL PREWHERE {x})",
    "join setting": "SELECT count() FROM (SELECT 1 AS k) AS b JOIN {t} AS a ON b.k = 1 AND {x} SETTINGS final = 1",
    "cte final": "WITH v AS (SELECT * FROM {t} FINAL WHERE {x}) SELECT count() FROM v",
}
# Each fires only if the expression meets a row that is not the attacker's: a branch only such a row takes
# (evaluated at all, it throws or sleeps past sleepEachRow's 3 s a block), or a block of more rows than the
# attacker has.
FINAL_ORACLES = {
    "branch throwIf": "if({o}, throwIf(1), 0) = 0",
    "branch sleep": "if({o}, sleepEachRow(3), 0) = 0",
    "branch cast": "if({o}, toUInt64({s}), 0) = 0",
    "block size": "throwIf(blockSize() > {own}) = 0",
}
FINAL_TARGETS = [target for target in TARGETS if target.table not in ("llm_usage", "rejected_calls", "otel_traces",
                                                                      "otel_traces_trace_id_ts")]


def _own_rows(clients, target) -> int:
    return clients["admin"].command(f"SELECT count() FROM llmcost.{target.table} WHERE NOT ({target.other})")


def _final_attack(form: str, oracle: str, target, own: int) -> str:
    condition = FINAL_ORACLES[oracle].format(o=target.other, s=target.secret, own=own)
    return FINAL_FORMS[form].format(t=f"llmcost.{target.table}", x=condition)


@pytest.mark.parametrize("form", FINAL_FORMS)
@pytest.mark.parametrize("target", FINAL_TARGETS, ids=[target.table for target in FINAL_TARGETS])
def test_final_keeps_the_policy_first(served, target, form):
    """With FINAL the attacker's expressions still meet its own rows only, and every branch it does not
    take stays untaken (with the policy deferred past FINAL, ClickHouse evaluated both branches of an `if`)."""
    _, clients = served
    own = _own_rows(clients, target)
    for oracle in FINAL_ORACLES:
        outcome = attempt(clients["attacker"], _final_attack(form, oracle, target, own))
        assert_nothing_leaks(outcome)
        assert outcome[0] == "ok" and int(outcome[1]) <= own, (oracle, outcome[1])


def test_other_tenants_rows_move_nothing_the_attacker_sees(served):
    """The same FINAL and PREWHERE attacks, answered before and after another tenant adds calls (more parts
    to merge, more rows beside the attacker's in every rollup): body, status and summary counters are the
    same. The time each takes is benchmarked, not tested (tenant-isolation notes in the README)."""
    receiver, clients = served
    battery = [(form, oracle, target) for form in FINAL_FORMS for oracle in FINAL_ORACLES for target in FINAL_TARGETS]
    own = {target.table: _own_rows(clients, target) for target in FINAL_TARGETS}

    def answers() -> list:
        return [answer(receiver, _final_attack(form, oracle, target, own[target.table]))
                for form, oracle, target in battery] + \
               [answer(receiver, f"SELECT count() FROM llmcost.{target.table} PREWHERE {target.other}", final="1")
                for target in FINAL_TARGETS]

    before = answers()
    spans = [llm_span(os.urandom(16), f"bystander-model-{n}", n + 1, 1) for n in range(24)]
    assert post(receiver.http_url, request(*spans).SerializeToString(), "application/x-protobuf",
                headers={"Authorization": f"Bearer {receiver.bystander_key}"})[0] == 200
    deadline = time.monotonic() + 30
    while clients["admin"].command(f"SELECT count() FROM llmcost.usage_hourly WHERE tenant_id = '{BYSTANDER}'") < 24:
        assert time.monotonic() < deadline, "the bystander's calls did not reach the rollups"
        time.sleep(0.1)
    after = answers()
    assert after == before
    assert all(status == 200 for status, _, _ in after)


# The generator: an oracle, a clause to put it in, a wrapper around the statement, a harmless setting.
ORACLES = {
    "throwIf": "throwIf({o}) = 0",
    "cast": "toUInt64(if({o}, {s}, '0')) = 0",
    "division": "intDiv(1, if({o}, 0, 1)) = 1",
    "parse": "toDateTime(if({o}, {s}, '2020-01-01 00:00:00')) > 0",
    "sleep": "if({o}, sleepEachRow(3), 0) = 0",
    "length-cast": "toUInt8(if({o}, length({s}) + 1000, 0)) = 0",
    "branch": "if({o}, throwIf(1), 0) = 0",  # any row taking the branch throws: the attacker's own never do
}
CLAUSES = {
    "prewhere": "SELECT count() AS c FROM {t} PREWHERE {x}",
    "where": "SELECT count() AS c FROM {t} WHERE {x}",
    "where-and": "SELECT count() AS c FROM {t} WHERE 1 = 1 AND ({x}) AND 2 = 2",
    "where-or": "SELECT count() AS c FROM {t} WHERE 0 = 1 OR ({x})",
    "having": "SELECT count() AS c FROM {t} GROUP BY 1 HAVING max({x})",
    "order-by": "SELECT 1 AS c FROM {t} ORDER BY {x}",
    "select": "SELECT {x} AS c FROM {t}",
    "window": "SELECT count() OVER (PARTITION BY {x}) AS c FROM {t}",
    "lambda": "SELECT arrayCount(v -> v, [{x}]) AS c FROM {t}",
    "join-on": "SELECT count() AS c FROM (SELECT 1 AS k) AS b JOIN {t} AS a ON b.k = 1 AND {x}",
    "qualify": "SELECT 1 AS c FROM {t} QUALIFY {x}",
    "limit-by": "SELECT 1 AS c FROM {t} LIMIT 1 BY {x}",
    "arrayJoin": "SELECT arrayJoin([{x}]) AS c FROM {t}",
}
WRAPPERS = {
    "none": "{q}",
    "subquery": "SELECT count() FROM ({q})",
    "cte": "WITH w AS ({q}) SELECT count() FROM w",
    "union": "SELECT count() FROM ({q} UNION ALL SELECT 1 AS c)",
    "in": "SELECT 1 WHERE 1 IN (SELECT 1 FROM ({q}))",
    "scalar": "SELECT (SELECT count() FROM ({q}))",
    "join": "SELECT count() FROM ({q}) AS l JOIN (SELECT 1 AS c) AS r ON 1 = 1",
}
HARMLESS_SETTINGS = [{}, {"join_use_nulls": "1"}, {"final": "1"}, {"transform_null_in": "1"},
                     {"aggregate_functions_null_for_empty": "1"}, {"max_threads": "1"}, {"max_rows_to_read": "100000"}]


def _target(table: str):
    return next(target for target in TARGETS if target.table == table)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# What the generator found once by chance: with FINAL, ClickHouse deferred the policy and PREWHERE past the
# merge and evaluated the untaken branch's sleep on the attacker's own rows (it has two or more in an hour).
@example(target=_target("usage_hourly"), oracle="sleep", clause="prewhere", wrapper="none", extra={"final": "1"})
@example(target=_target("usage_hourly"), oracle="branch", clause="prewhere", wrapper="none", extra={"final": "1"})
@example(target=_target("reconciliations"), oracle="branch", clause="where", wrapper="cte", extra={"final": "1"})
@given(target=st.sampled_from(TARGETS), oracle=st.sampled_from(sorted(ORACLES)),
       clause=st.sampled_from(sorted(CLAUSES)), wrapper=st.sampled_from(sorted(WRAPPERS)),
       extra=st.sampled_from(HARMLESS_SETTINGS))
def test_generated_queries_observe_nothing(served, target, oracle, clause, wrapper, extra):
    _, clients = served
    condition = ORACLES[oracle].format(o=target.other, s=target.secret)
    inner = CLAUSES[clause].format(t=f"llmcost.{target.table}", x=condition)
    sql = WRAPPERS[wrapper].format(q=inner)
    assert_nothing_leaks(attempt(clients["attacker"], sql, **extra))
