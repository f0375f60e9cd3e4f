"""Who the query listener answers: keys, loopback without keys, never a web page or a rebound host name."""

from __future__ import annotations

import base64

import pytest

from otel_llmcost.keys import INGEST, QUERY, KeyStore
from otel_llmcost.query.access import Gate
from otel_llmcost.query.errors import QueryError

LOCAL = "local-secret"


def basic(password: str, user: str = "default") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def refusal(gate: Gate, headers: dict, remote: str, params: dict | None = None) -> QueryError:
    with pytest.raises(QueryError) as caught:
        gate.admit(headers, params or {}, remote)
    return caught.value


def test_without_keys_only_loopback_with_a_loopback_host(tmp_path):
    gate = Gate(KeyStore(tmp_path / "keys.json"), LOCAL)
    for host in ("127.0.0.1:8123", "localhost:8123", "[::1]:8123", "localhost"):
        assert gate.admit({"Host": host}, {}, "127.0.0.1").is_admin
    assert refusal(gate, {"Host": "127.0.0.1:8123"}, "10.1.2.3").code == 497
    # DNS rebinding: the attacker's name resolves to 127.0.0.1, the browser sends it as Host.
    assert refusal(gate, {"Host": "rebind.attacker.example:8123"}, "127.0.0.1").code == 497


def test_web_pages_are_refused_even_with_a_key(tmp_path):
    keys = KeyStore(tmp_path / "keys.json")
    _, secret = keys.create(None, (QUERY,))
    gate = Gate(keys, LOCAL)
    assert refusal(gate, {**basic(secret), "Origin": "http://localhost:3000"}, "127.0.0.1").code == 497
    assert refusal(gate, {**basic(secret), "Sec-Fetch-Site": "same-site"}, "127.0.0.1").code == 497
    assert gate.admit({**basic(secret), "Sec-Fetch-Site": "none"}, {}, "127.0.0.1").is_admin


def test_with_keys_every_request_needs_one(tmp_path):
    keys = KeyStore(tmp_path / "keys.json")
    _, admin = keys.create(None, (QUERY,))
    tenant_key, tenant = keys.create("acme", (QUERY,))
    gate = Gate(keys, LOCAL)
    assert refusal(gate, {"Host": "127.0.0.1"}, "127.0.0.1").code == 516  # loopback is not enough any more
    assert refusal(gate, basic("llmc_nope_nope"), "10.1.2.3").status == 401
    assert refusal(gate, {"Authorization": "Basic !!notbase64"}, "10.1.2.3").code == 516
    assert gate.admit(basic(admin), {}, "10.1.2.3").is_admin  # any Host: the key is the proof
    who = gate.admit({"X-ClickHouse-User": "x", "X-ClickHouse-Key": tenant}, {}, "10.1.2.3")
    assert (who.tenant, who.key_id) == ("acme", tenant_key.key_id)
    assert gate.admit({"Authorization": f"Bearer {tenant}"}, {}, "10.1.2.3").tenant == "acme"
    assert gate.admit({}, {"user": "default", "password": tenant}, "10.1.2.3").tenant == "acme"
    assert gate.admit(basic("", user=tenant), {}, "10.1.2.3").tenant == "acme"  # key in the user field
    keys.revoke(tenant_key.key_id)
    assert refusal(gate, basic(tenant), "10.1.2.3").code == 516


def test_the_local_secret_works_from_loopback_only(tmp_path):
    keys = KeyStore(tmp_path / "keys.json")
    keys.create(None, (QUERY,))
    gate = Gate(keys, LOCAL)
    assert gate.admit({"X-ClickHouse-Key": LOCAL}, {}, "127.0.0.1").is_admin
    assert refusal(gate, {"X-ClickHouse-Key": LOCAL}, "10.1.2.3").code == 516


def test_query_auth_fails_closed(tmp_path):
    keys = KeyStore(tmp_path / "keys.json")
    required = Gate(keys, LOCAL, required=True)
    assert refusal(required, {"Host": "127.0.0.1"}, "127.0.0.1").code == 516  # no key file: nobody, not admin
    _, writer = keys.create("acme", (INGEST,))
    optional = Gate(keys, LOCAL)
    assert optional.admit({"Host": "127.0.0.1"}, {}, "127.0.0.1").is_admin  # an ingest key changes no query auth
    assert "ingest key" in refusal(required, basic(writer), "127.0.0.1").message
    _, reader = keys.create("acme", (QUERY,))
    assert required.admit(basic(reader), {}, "10.1.2.3").tenant == "acme"
    (tmp_path / "keys.json").write_text("{ half written")
    for gate in (optional, required):  # unreadable: no keyless loopback admin either
        assert refusal(gate, {"Host": "127.0.0.1"}, "127.0.0.1").code == 516
