"""API keys: hashed at rest, verified in constant time, seen by a running process once written."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from otel_llmcost.errors import ConfigError
from otel_llmcost.keys import INGEST, QUERY, USES, KeyStore


def test_create_verify_revoke(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    assert not store.has_keys(INGEST) and store.problem(QUERY) == f"the key file {tmp_path / 'keys.json'} is missing"
    tenant_key, tenant_secret = store.create("acme", USES, "ci")
    admin_key, admin_secret = store.create(None, USES)
    assert store.verify(tenant_secret) == tenant_key and tenant_key.tenant == "acme" and not tenant_key.is_admin
    assert store.verify(admin_secret).is_admin
    assert store.verify(tenant_secret + "x") is None
    assert store.verify(tenant_secret.replace(tenant_key.key_id, admin_key.key_id)) is None
    assert store.verify("Bearer nonsense") is None and store.verify("") is None
    on_disk = (tmp_path / "keys.json").read_text()
    assert tenant_secret not in on_disk and admin_secret not in on_disk
    assert store.revoke(tenant_key.key_id) and not store.revoke(tenant_key.key_id)
    assert store.verify(tenant_secret) is None and store.verify(admin_secret) == admin_key


def test_a_second_handle_sees_changes_on_disk(tmp_path):
    reader, writer = KeyStore(tmp_path / "keys.json"), KeyStore(tmp_path / "keys.json")
    assert not reader.has_keys(INGEST)
    key, secret = writer.create("acme", (INGEST,))
    assert reader.verify(secret) == key
    writer.revoke(key.key_id)
    assert reader.verify(secret) is None


def test_tenant_must_not_be_blank(tmp_path):
    with pytest.raises(ConfigError):
        KeyStore(tmp_path / "keys.json").create("  ", (INGEST,))


def test_cli_create_list_revoke(tmp_path):
    data = str(tmp_path / "data")
    created = json.loads(run_cli("keys", "create", "--ingest", "--tenant", "acme", "--label", "app", "--data-dir", data).stdout)
    assert created["tenant"] == "acme" and created["secret"].startswith("llmc_")
    run_cli("keys", "create", "--query", "--admin", "--data-dir", data)
    listed = [json.loads(line) for line in run_cli("keys", "list", "--json", "--data-dir", data).stdout.splitlines()]
    assert [key["tenant"] for key in listed] == ["acme", None] and "secret" not in listed[0]
    assert KeyStore(tmp_path / "data" / "keys.json").verify(created["secret"]).tenant == "acme"
    run_cli("keys", "revoke", created["key_id"], "--data-dir", data)
    failed = run_cli("keys", "revoke", created["key_id"], "--data-dir", data, check=False)
    assert failed.returncode == 2 and "no key with id" in failed.stderr


def test_ingest_and_query_keys_are_told_apart(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    reader, _ = store.create(None, (QUERY,))
    assert store.has_keys(QUERY) and not store.has_keys(INGEST)
    assert store.problem(INGEST) == f"the key file {tmp_path / 'keys.json'} holds no ingest key"
    assert reader.uses == (QUERY,) and not store.has_legacy_keys()
    with pytest.raises(ConfigError):
        store.create("acme", ())
    with pytest.raises(ConfigError, match="never a tenant"):
        store.create("*all*", (QUERY,))


def test_keys_from_before_uses_serve_both_and_stay_so(tmp_path):
    """A key file written before keys had uses: its keys serve both, and rewriting it keeps them so."""
    path = tmp_path / "keys.json"
    _, secret = KeyStore(path).create("acme", (INGEST,))
    document = json.loads(path.read_text())
    del document["keys"][0]["uses"]
    path.write_text(json.dumps(document))
    store = KeyStore(path)
    assert store.verify(secret).uses == (INGEST, QUERY) and store.has_legacy_keys()
    store.create("globex", (QUERY,))
    assert "uses" not in json.loads(path.read_text())["keys"][0] and KeyStore(path).has_legacy_keys()
    (tmp_path / "keys.json").write_text("[1, 2")
    assert "unreadable" in store.problem(INGEST)


def test_cli_asks_what_a_key_is_for(tmp_path):
    data = str(tmp_path / "data")
    refused = run_cli("keys", "create", "--admin", "--data-dir", data, check=False)
    assert refused.returncode == 2 and "--ingest" in refused.stderr and "--query" in refused.stderr
    created = run_cli("keys", "create", "--query", "--admin", "--data-dir", data)
    assert json.loads(created.stdout)["uses"] == ["query"] and "ingest is unchanged" in created.stderr
