"""API keys: hashed at rest, verified in constant time, seen by a running process once written."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from otel_llmcost.errors import ConfigError
from otel_llmcost.keys import KeyStore


def test_create_verify_revoke(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    assert not store.configured
    tenant_key, tenant_secret = store.create("acme", "ci")
    admin_key, admin_secret = store.create(None)
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
    assert not reader.configured
    key, secret = writer.create("acme")
    assert reader.verify(secret) == key
    writer.revoke(key.key_id)
    assert reader.verify(secret) is None


def test_tenant_must_not_be_blank(tmp_path):
    with pytest.raises(ConfigError):
        KeyStore(tmp_path / "keys.json").create("  ")


def test_cli_create_list_revoke(tmp_path):
    data = str(tmp_path / "data")
    created = json.loads(run_cli("keys", "create", "--tenant", "acme", "--label", "app", "--data-dir", data).stdout)
    assert created["tenant"] == "acme" and created["secret"].startswith("llmc_")
    run_cli("keys", "create", "--admin", "--data-dir", data)
    listed = [json.loads(line) for line in run_cli("keys", "list", "--json", "--data-dir", data).stdout.splitlines()]
    assert [key["tenant"] for key in listed] == ["acme", None] and "secret" not in listed[0]
    assert KeyStore(tmp_path / "data" / "keys.json").verify(created["secret"]).tenant == "acme"
    run_cli("keys", "revoke", created["key_id"], "--data-dir", data)
    failed = run_cli("keys", "revoke", created["key_id"], "--data-dir", data, check=False)
    assert failed.returncode == 2 and "no key with id" in failed.stderr
