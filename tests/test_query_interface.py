"""ClickHouse's HTTP interface of a real receiver, driven by real clients (raw HTTP, clickhouse-connect)."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import struct
import time
import urllib.parse

import clickhouse_connect
import pytest

from conftest import FAST_CONFIG, Receiver, run_cli
from otel_llmcost.store.chdb_store import ChdbStore
from payloads import llm_span, post, request
from query_clients import node_runner
from test_query_native import TEXT_ONLY, TYPED


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("iface") / "data"
    data_dir.mkdir()
    admin = json.loads(
        run_cli("keys", "create", "--ingest", "--query", "--admin", "--data-dir", str(data_dir)).stdout)["secret"]
    acme = json.loads(run_cli(
        "keys", "create", "--ingest", "--query", "--tenant", "acme", "--data-dir", str(data_dir)).stdout)["secret"]
    receiver = Receiver(data_dir, FAST_CONFIG).start()
    # acme's call comes with acme's key (the key names the tenant), globex's with the admin key and an attribute.
    calls = (("acme", acme, "gpt-4o-mini", 1_000_000), ("globex", admin, "gpt-4o", 2_000_000))
    for tenant, key, model, tokens in calls:
        body = request(llm_span(os.urandom(16), model, tokens, 10, **{"tenant.id": tenant})).SerializeToString()
        bearer = {"Authorization": f"Bearer {key}"}
        assert post(receiver.http_url, body, "application/x-protobuf", headers=bearer)[0] == 200
    for _ in range(100):
        if _http(receiver, "SELECT count() FROM llmcost.llm_usage", admin)[2] == b"2\n":
            break
        time.sleep(0.1)
    yield receiver, admin, acme
    if receiver.process.poll() is None:
        receiver.stop()


def _http(receiver, sql: str | None, secret: str | None = None, method: str = "POST", params: dict | None = None,
          headers: dict | None = None, body: bytes | None = None):
    query = dict(params or {})
    if method == "GET" and sql is not None:
        query["query"] = sql
    connection = http.client.HTTPConnection("127.0.0.1", receiver.query_port, timeout=30)
    all_headers = dict(headers or {})
    if secret:
        all_headers["Authorization"] = "Basic " + base64.b64encode(f"default:{secret}".encode()).decode()
    payload = body if body is not None else (sql.encode() if method == "POST" and sql else None)
    connection.request(method, "/?" + urllib.parse.urlencode(query), body=payload, headers=all_headers)
    try:
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_ping_and_plain_queries(served):
    receiver, admin, _ = served
    assert _http(receiver, None, method="GET")[2] == b"Ok.\n"
    connection = http.client.HTTPConnection("127.0.0.1", receiver.query_port, timeout=10)
    connection.request("GET", "/ping")
    assert connection.getresponse().read() == b"Ok.\n"
    connection.close()
    status, headers, body = _http(receiver, "SELECT 1 + 1", admin, method="GET")
    assert (status, body) == (200, b"2\n")
    assert headers["X-ClickHouse-Format"] == "TabSeparated" and headers["X-ClickHouse-Timezone"]
    assert "read_rows" in json.loads(headers["X-ClickHouse-Summary"]) and headers["X-ClickHouse-Query-Id"]
    # The URL's query, a newline, then the body.
    assert _http(receiver, "FROM llmcost.llm_usage", admin, params={"query": "SELECT count()"})[2] == b"2\n"
    assert _http(receiver, "SELECT 1", admin, params={"query_id": "q-42"})[1]["X-ClickHouse-Query-Id"] == "q-42"


def test_formats_parameters_and_gzip(served):
    receiver, admin, _ = served
    params = {"default_format": "JSONEachRow", "param_model": "gpt-4o", "database": "llmcost"}
    body = _http(receiver, "SELECT request_model FROM llm_usage WHERE request_model = {model:String}", admin,
                 params=params)[2]
    assert json.loads(body) == {"request_model": "gpt-4o"}
    assert _http(receiver, "SELECT 1 AS x FORMAT JSONEachRow", admin)[2] == b'{"x":1}\n'
    status, headers, body = _http(receiver, "SELECT number FROM numbers(1000)", admin,
                                  params={"enable_http_compression": "1"}, headers={"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).split() == [str(n).encode() for n in range(1000)]


def test_chunked_request_body(served):
    receiver, admin, _ = served
    connection = http.client.HTTPConnection("127.0.0.1", receiver.query_port, timeout=10)
    auth = "Basic " + base64.b64encode(f"default:{admin}".encode()).decode()
    connection.request("POST", "/", body=iter([b"SELECT ", b"40 + ", b"2"]), encode_chunked=True,
                       headers={"Authorization": auth, "Transfer-Encoding": "chunked"})
    assert connection.getresponse().read() == b"42\n"
    connection.close()


def test_errors_as_clickhouse_writes_them(served):
    receiver, admin, _ = served
    status, headers, body = _http(receiver, "SELECT * FROM file('/etc/passwd', 'LineAsString')", admin)
    assert status == 403 and headers["X-ClickHouse-Exception-Code"] == "497"
    assert body.startswith(b"Code: 497. DB::Exception: ") and body.rstrip().endswith(b"(ACCESS_DENIED)")
    status, headers, body = _http(receiver, "SELECT * FROM llmcost.nope", admin)
    assert status == 404 and headers["X-ClickHouse-Exception-Code"] == "60"
    status, _, body = _http(receiver, "SELECT 1", "llmc_wrong_secret")
    assert status == 401 and b"(AUTHENTICATION_FAILED)" in body
    assert _http(receiver, "SELECT 1")[0] == 401  # keys exist: no key, no answer


def test_a_client_that_went_away_does_not_pin_the_listener(served):
    receiver, admin, _ = served
    for _ in range(2):  # as many abandoned slow queries as there are slots
        connection = http.client.HTTPConnection("127.0.0.1", receiver.query_port, timeout=10)
        connection.request("POST", "/?max_execution_time=3", body=b"SELECT count() FROM numbers(1e13)",
                           headers={"Authorization": "Basic " + base64.b64encode(f"d:{admin}".encode()).decode()})
        connection.close()  # gone before the answer
    started = time.monotonic()
    assert _http(receiver, "SELECT 1", admin)[2] == b"1\n"  # waits for a slot at most max_execution_time
    assert time.monotonic() - started < 30


def test_a_query_id_with_a_line_break_is_refused_cleanly(served):
    receiver, admin, _ = served
    status, headers, body = _http(receiver, "SELECT 1", admin, params={"query_id": "q\r\nX-Evil: 1"})
    assert status == 400 and b"query_id must be printable" in body and "X-Evil" not in headers
    assert "\n" not in headers["X-ClickHouse-Query-Id"]


def test_browsers_are_kept_out(served):
    receiver, admin, _ = served
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        status, _, body = _http(receiver, "SELECT 1", admin, headers=headers)
        assert status == 403 and b"web pages" in body


def test_credentials_in_every_carrier(served):
    receiver, admin, acme = served
    sql = "SELECT DISTINCT tenant_id FROM llmcost.llm_usage ORDER BY 1"
    assert _http(receiver, sql, headers={"X-ClickHouse-User": "default", "X-ClickHouse-Key": acme})[2] == b"acme\n"
    assert _http(receiver, sql, headers={"Authorization": f"Bearer {acme}"})[2] == b"acme\n"
    assert _http(receiver, sql, params={"user": "default", "password": admin})[2] == b"acme\nglobex\n"


def test_native_at_the_revision_grafanas_driver_asks_for(served):
    """The handshake of clickhouse-go v2.47 (Grafana's driver), byte for byte, answered truthfully."""
    receiver, admin, _ = served
    params = {"default_format": "Native", "client_protocol_version": "54460"}
    body = _http(receiver, "SELECT displayName(), version(), revision(), timezone()", admin, params=params)[2]
    direct = _http(receiver, "SELECT displayName(), version(), revision(), timezone() FORMAT TSVRaw", admin)[2]
    name, version, revision, zone = direct.decode().split()

    def string(text: str) -> bytes:
        return bytes([len(text.encode())]) + text.encode()

    expected = (b"\x01\x00\x02\xff\xff\xff\xff\x00"  # BlockInfo: is_overflows=0, bucket_num=-1, end
                + b"\x04\x01"  # 4 columns, 1 row
                + string("displayName()") + string("String") + b"\x00" + string(name)
                + string("version()") + string("String") + b"\x00" + string(version)
                + string("revision()") + string("UInt32") + b"\x00" + struct.pack("<I", int(revision))
                + string("timezone()") + string("String") + b"\x00" + string(zone))
    assert body == expected
    # Revision 0 (or none): chDB's own layout, no BlockInfo, no serialization byte.
    plain = _http(receiver, "SELECT 1 AS x", admin, params={"default_format": "Native"})[2]
    assert plain == b"\x01\x01" + string("x") + string("UInt8") + b"\x01"
    # A DateTime keeps its zone at this revision, as ClickHouse sends it (chDB's revision 0 drops it).
    zoned = _http(receiver, "SELECT toDateTime(0, 'Europe/Berlin') AS t", admin, params=params)[2]
    assert zoned == (b"\x01\x00\x02\xff\xff\xff\xff\x00\x01\x01" + string("t")
                     + string("DateTime('Europe/Berlin')") + b"\x00" + struct.pack("<I", 0))


@pytest.mark.parametrize("sql", [
    TYPED, *TEXT_ONLY, TYPED + " SETTINGS output_format_native_encode_types_in_binary_format = 0",
    "SELECT DISTINCT tenant_id, toStartOfHour(ts) AS hour FROM llmcost.llm_usage ORDER BY tenant_id"])
def test_native_types_at_54460_without_a_describe_are_the_describes(served, sql):
    """A Native SELECT's types come from its own answer (binary type encoding; a type native.py does not name
    asks again with text types and a DESCRIBE, as does a client or query that sets the encoding itself): for an
    admin and a tenant key, the bytes are those the DESCRIBE's types give."""
    receiver, admin, acme = served
    params = {"default_format": "Native", "client_protocol_version": "54460"}
    described = params | {"output_format_native_encode_types_in_binary_format": "0"}  # the DESCRIBE path
    for secret in (admin, acme):
        status, _, body = _http(receiver, sql, secret, params=params)
        assert status == 200, body
        assert body == _http(receiver, sql, secret, params=described)[2]
        if "llm_usage" in sql:  # the served store's rows: the zone is the column's, each key its tenants' rows
            assert b"\x04hour\x0fDateTime('UTC')\x00" in body
            assert b"acme" in body and (b"globex" in body) == (secret == admin)
        elif "berlin" in sql:
            assert b"\x06berlin\x19DateTime('Europe/Berlin')\x00" in body


def test_clickhouse_connect_browses_and_queries(served):
    receiver, admin, acme = served
    client = clickhouse_connect.get_client(host="127.0.0.1", port=receiver.query_port, username="default",
                                           password=admin, database="llmcost")
    assert "llm_usage" in {row[0] for row in client.query("SHOW TABLES").result_rows}
    assert ("tenant_id", "LowCardinality(String)") in {
        (row[0], row[1]) for row in client.query("DESCRIBE TABLE llmcost.llm_usage").result_rows}
    assert client.query("SELECT count() FROM system.functions").result_rows[0][0] > 1000
    rows = client.query("SELECT tenant_id, request_model, input_tokens, cost_usd, ts FROM llm_usage "
                        "ORDER BY tenant_id").result_rows
    assert [(r[0], r[1], r[2]) for r in rows] == [("acme", "gpt-4o-mini", 1_000_000), ("globex", "gpt-4o", 2_000_000)]
    tenant = clickhouse_connect.get_client(host="127.0.0.1", port=receiver.query_port, username="default",
                                           password=acme)
    assert tenant.query("SELECT DISTINCT tenant_id FROM llmcost.llm_usage").result_rows == [("acme",)]
    with pytest.raises(Exception, match="ACCESS_DENIED|497"):
        tenant.query("SELECT * FROM file('/etc/passwd', 'LineAsString')")


@pytest.fixture(scope="module")
def node_client():
    return node_runner()


def test_clickhouse_js_client(served, node_client):
    receiver, admin, acme = served
    answers = node_client(receiver.query_port, admin, "SHOW TABLES",
                          "SELECT tenant_id, input_tokens FROM llm_usage ORDER BY tenant_id",
                          "SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'a UInt8')")
    assert {"name": "llm_usage"} in answers[0]["rows"]
    assert answers[1]["rows"] == [{"tenant_id": "acme", "input_tokens": 1000000},
                                  {"tenant_id": "globex", "input_tokens": 2000000}]
    assert answers[2]["code"] == "497" and "url()" in answers[2]["error"]
    assert answers[3] == {"ping": True}
    tenant = node_client(receiver.query_port, acme, "SELECT DISTINCT tenant_id FROM llm_usage")
    assert tenant[0]["rows"] == [{"tenant_id": "acme"}]


def test_one_read_path(served):
    """`otel-llmcost sql` goes through the listener's guard; the old POST /api/sql is gone."""
    receiver, admin, _ = served
    refused = run_cli("sql", "--data-dir", str(receiver.data_dir), "SELECT * FROM file('/etc/passwd', 'LineAsString')",
                      check=False)
    assert refused.returncode == 2 and "Code: 497" in refused.stderr and "root:" not in refused.stdout
    ok = run_cli("sql", "--data-dir", str(receiver.data_dir), "SELECT count() AS n FROM llmcost.llm_usage")
    assert ok.stdout == '{"n": 2}\n'
    assert post(f"http://127.0.0.1:{receiver.http_port}/api/sql", b'{"sql": "SELECT 1"}', "application/json",
                headers={"Authorization": f"Bearer {admin}"})[0] == 404


def test_answers_match_chdb_directly(served):
    receiver, admin, _ = served
    sql = ("SELECT tenant_id, request_model, sum(input_tokens) AS tokens, toString(sum(cost_usd)) AS cost "
           "FROM llmcost.llm_usage GROUP BY tenant_id, request_model ORDER BY tenant_id")
    client = clickhouse_connect.get_client(host="127.0.0.1", port=receiver.query_port, password=admin)
    through_interface = [list(row) for row in client.query(sql).result_rows]
    receiver.stop()
    store = ChdbStore(str(receiver.data_dir / "chdb"), "llmcost")
    try:
        direct = [list(row.values()) for row in store.query(sql)]
    finally:
        store.close()
    assert through_interface == direct and len(direct) == 2
