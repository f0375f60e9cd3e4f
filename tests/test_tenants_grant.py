"""`otel-llmcost tenants grant`: statements ClickHouse's parser accepts (no server runs here to apply them)."""

from __future__ import annotations

import hashlib

import pytest

from conftest import run_cli
from otel_llmcost.query.grants import grant_statements, user_name
from otel_llmcost.store.policies import TENANT_TABLES
from otel_llmcost.store.reader import EngineError


def test_every_statement_parses_in_clickhouse(session):
    statements = grant_statements("llmcost", "o'hara `x`", "s3cret", ("default", "grafana_admin"))
    assert len(statements) == 1 + 3 * (len(TENANT_TABLES) + 1)  # and the trace-id lookup table
    assert any("otel_traces_trace_id_ts` USING TraceId IN (SELECT TraceId FROM `llmcost`.`otel_traces`)" in s
               for s in statements)
    for statement in statements:
        canonical = session.single_line(statement)  # ClickHouse's own parser; fails on bad SQL
        assert canonical.split()[0] in ("CREATE", "GRANT")
    assert hashlib.sha256(b"s3cret").hexdigest() in statements[0] and "s3cret" not in statements[0]
    assert "tenant_id = 'o\\'hara `x`'" in statements[2]
    # chDB has no SQL-managed users or policies: the embedded store's come from its users file.
    with pytest.raises(EngineError) as refused:
        session.run(statements[0])
    assert refused.value.name == "ACCESS_DENIED"


def test_user_names_never_collide():
    assert user_name("acme") == "llmcost_tenant_acme"
    assert user_name("o'hara") != user_name("o_hara")


def test_the_command_prints_sql_and_the_password_once(tmp_path):
    result = run_cli("tenants", "grant", "acme", "--data-dir", str(tmp_path))
    assert result.stdout.startswith("CREATE USER IF NOT EXISTS `llmcost_tenant_acme`")
    password = result.stderr.split(": ", 1)[1].strip()
    assert hashlib.sha256(password.encode()).hexdigest() in result.stdout and password not in result.stdout
