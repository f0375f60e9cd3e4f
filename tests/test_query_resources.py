"""The query listener's resources under load, through a real receiver: answers stream instead of being
held, whole answers share a budget, one key cannot take every slot, a client that leaves frees its slot
at once, and SIGTERM does not wait for running queries."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import signal
import time
import urllib.parse

import clickhouse_connect
import pytest

from conftest import FAST_CONFIG, Receiver
from otel_llmcost.keys import QUERY, KeyStore

HEAVY = "SELECT count() FROM numbers(1e12) WHERE NOT ignore(sipHash64(number))"  # minutes, one block
CONFIG = {**FAST_CONFIG, "query": {"queue_seconds": 2, "max_concurrent_queries": 2,
                                   "max_concurrent_queries_per_key": 1}}


def _key(data_dir) -> str:
    return KeyStore(data_dir / "keys.json").create(None, (QUERY,))[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("resources") / "data"
    keys = (_key(data_dir), _key(data_dir))
    receiver = Receiver(data_dir, CONFIG).start()
    yield receiver, keys
    if receiver.process.poll() is None:
        receiver.stop()


def _send(receiver, sql: str, key: str, **params) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", receiver.query_port, timeout=60)
    auth = "Basic " + base64.b64encode(f"default:{key}".encode()).decode()
    connection.request("POST", "/?" + urllib.parse.urlencode(params), body=sql.encode(),
                       headers={"Authorization": auth, "Accept-Encoding": "gzip"})
    return connection


def _ask(receiver, sql: str, key: str, **params) -> tuple[int, dict, bytes]:
    connection = _send(receiver, sql, key, **params)
    try:
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _wait_running(receiver, key: str, count: int) -> None:
    deadline = time.monotonic() + 20
    query = "SELECT count() FROM system.processes WHERE query LIKE '/* llmcost-query %' AND query LIKE '%sipHash64%'"
    while int(_ask(receiver, query, key)[2] or 0) < count:
        assert time.monotonic() < deadline, "the heavy query never started"
        time.sleep(0.1)


def test_big_answers_stream(served):
    receiver, (key, _) = served
    sql = "SELECT number, toString(number) AS s FROM numbers(300000)"
    status, headers, body = _ask(receiver, sql, key, default_format="TabSeparated")
    assert status == 200 and headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in headers
    assert body.count(b"\n") == 300_000 and body.endswith(b"299999\t299999\n")
    status, headers, body = _ask(receiver, sql, key, default_format="Native", enable_http_compression="1")
    assert headers["Content-Encoding"] == "gzip" and len(gzip.decompress(body)) > 2_000_000
    client = clickhouse_connect.get_client(host="127.0.0.1", port=receiver.query_port, password=key)
    assert client.query("SELECT sum(number) FROM numbers(1000000)").result_rows == [(499999500000,)]
    assert len(client.query(sql).result_rows) == 300_000  # Native, streamed, decoded by the client


def test_an_error_after_the_first_chunk_ends_the_body(served):
    """The status went out with the first chunk: the error follows the rows, as ClickHouse writes it, and
    the connection ends before the chunked body does, so no client takes the rows for a whole answer."""
    receiver, (key, _) = served
    # 1.6 MB of rows before the error (within the 1M-row result limit): how many rows chDB hands over per
    # chunk depends on its blocks and threads, and an error within the first chunk is answered 500 (no
    # status has gone out yet).
    connection = _send(receiver, "SELECT throwIf(number = 800000) FROM numbers(900000)", key)
    try:
        response = connection.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
        assert b"Code: 395. DB::Exception:" in cut.value.partial[-2000:]
    finally:
        connection.close()


def test_whole_answers_are_made_in_a_file_not_in_memory(served):
    """JSON cannot be streamed chunk by chunk: chDB writes it to a file (INTO OUTFILE), read back in chunks."""
    receiver, (key, _) = served
    status, headers, body = _ask(receiver, "SELECT number, toString(number) AS s FROM numbers(300000) FORMAT JSON",
                                 key)
    assert status == 200 and headers.get("Transfer-Encoding") == "chunked"
    document = json.loads(body)
    assert document["rows"] == 300_000 and document["data"][-1]["s"] == "299999"
    status, _, body = _ask(receiver, "SELECT 1 AS x FORMAT JSON SETTINGS max_threads = 1", key)  # FORMAT first
    assert status == 200 and json.loads(body)["data"] == [{"x": 1}]
    assert _ask(receiver, "SELECT 1 FROM numbers(10) WHERE throwIf(number = 3) FORMAT JSON", key)[0] == 500
    deadline = time.monotonic() + 10  # each file goes once sent (just after the client has the answer)
    while list((receiver.data_dir / "query-answers").iterdir()):
        assert time.monotonic() < deadline, list((receiver.data_dir / "query-answers").iterdir())
        time.sleep(0.1)


def test_one_key_cannot_take_every_slot(served):
    receiver, (greedy, other) = served
    first = _send(receiver, HEAVY, greedy)
    try:
        _wait_running(receiver, other, 1)
        status, headers, body = _ask(receiver, "SELECT 1", greedy)  # its one slot is taken: 202 after 2 s
        assert status == 503 and headers["X-ClickHouse-Exception-Code"] == "202" and b"this key" in body
        assert _ask(receiver, "SELECT 1", other)[2] == b"1\n"  # another key still gets the other slot
    finally:
        first.close()  # and the client leaving ends the heavy query


def test_a_client_that_leaves_frees_its_slot(served):
    receiver, (key, other) = served
    for _ in range(3):  # each would hold the key's only slot for minutes
        _send(receiver, HEAVY, key).close()
        status, _, body = _ask(receiver, "SELECT 2", key)  # waits at most queue_seconds (2 s) for the slot
        assert (status, body) == (200, b"2\n"), body
    assert _ask(receiver, "SELECT count() FROM system.processes WHERE query LIKE '%sipHash64%' "
                          "AND query NOT LIKE '%processes%'", other)[2] == b"0\n"


def test_sigterm_does_not_wait_for_running_queries(tmp_path):
    data_dir = tmp_path / "data"
    keys = (_key(data_dir), _key(data_dir), _key(data_dir))
    receiver = Receiver(data_dir, {**CONFIG, "query": {**CONFIG["query"], "max_concurrent_queries": 3,
                                                        "queue_seconds": 30}}).start()
    try:
        running = [_send(receiver, HEAVY, key) for key in keys[:2]]
        _wait_running(receiver, keys[2], 2)
        running.append(_send(receiver, HEAVY, keys[0]))  # waits for its key's slot: must not start at the stop
        time.sleep(0.5)
        started = time.monotonic()
        receiver.process.send_signal(signal.SIGTERM)
        receiver.process.communicate(timeout=60)
        assert receiver.process.returncode == 0 and time.monotonic() - started < 10
        for connection in running:
            connection.close()
    finally:
        if receiver.process.poll() is None:
            receiver.kill()
