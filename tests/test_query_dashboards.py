"""Every dashboard query, as Grafana's plugin sends it, through the query listener with real clients:
the same answers as chDB gives directly (clickhouse-connect and @clickhouse/client)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import clickhouse_connect
import pytest
from grafana_plugin import by_uid, expand, queries, settings
from query_clients import node_runner, start_listener
from test_grafana import ROWS, SCENARIOS, SEEDED_CASES

from otel_llmcost.keys import QUERY, KeyStore
from otel_llmcost.store.chdb_store import ChdbStore

JSON_SETTINGS = {"output_format_json_quote_decimals": 1, "output_format_json_quote_64bit_integers": 0}
PANEL_SQL = [(f"{uid}:{name}:{scenario}", expand(queries(by_uid(uid))[name], settings(uid, **SCENARIOS[scenario])))
             for uid, name in SEEDED_CASES for scenario in SCENARIOS]  # as test_grafana: seeded rows, no spans


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboards")
    writer = ChdbStore(str(root / "chdb"), "llmcost")
    writer.ensure_schema()
    writer.insert_usage(ROWS)
    keys = KeyStore(root / "keys.json")
    _, admin = keys.create(None, (QUERY,))
    listener = start_listener(str(root / "chdb"), keys)
    yield writer, listener.port, admin
    listener.stop()
    writer.close()


def same(direct, through) -> bool:
    """chDB's JSON value (decimals and times as text) against clickhouse-connect's Python value."""
    if isinstance(through, (list, tuple)):
        return len(direct) == len(through) and all(map(same, direct, through))
    if isinstance(through, Decimal):
        return Decimal(direct) == through
    if isinstance(through, datetime):
        parsed = datetime.fromisoformat(str(direct).replace(" ", "T"))
        return parsed.replace(tzinfo=parsed.tzinfo or timezone.utc) == through.astimezone(timezone.utc)
    if isinstance(through, date):
        return date.fromisoformat(direct) == through
    if isinstance(through, float):
        return direct == pytest.approx(through)
    return direct == through


def test_clickhouse_connect_gets_chdbs_answers(served):
    writer, port, admin = served
    client = clickhouse_connect.get_client(host="127.0.0.1", port=port, password=admin, database="llmcost")
    for name, sql in PANEL_SQL:
        direct = [list(row.values()) for row in writer.query(sql)]
        through = client.query(sql).result_rows
        assert direct, f"{name}: no rows"
        assert len(direct) == len(through) and all(map(same, direct, through)), f"{name}:\n{direct}\n{through}"


def test_clickhouse_js_gets_chdbs_answers(served):
    writer, port, admin = served
    answers = node_runner()(port, admin, *(sql for _, sql in PANEL_SQL), settings=JSON_SETTINGS)
    for (name, sql), answer in zip(PANEL_SQL, answers, strict=False):
        assert answer.get("rows") == writer.query(sql), f"{name}: {answer}"
    assert answers[-1] == {"ping": True}
